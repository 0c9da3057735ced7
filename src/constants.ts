/**
 * Every limit of fwmesh in one place (STYLE.md §3): each with why and where the number comes
 * from. Units go last. `TEST_LIMITS` is the small preset tests use to reach the edges fast.
 */

/** A transaction body: the largest is a release.publish with 64 hardware models and a plan. */
export const TX_BYTES_MAX = 8 * 1024

/** Hardware models per release; gateways of one product rarely exceed a few dozen boards. */
export const RELEASE_HARDWARE_MAX = 64

/** Devices' groups; used for targeting, a handful is typical. */
export const DEVICE_GROUPS_MAX = 16

/** Rollout waves per release: canary, a few percentages, everyone. */
export const ROLLOUT_WAVES_MAX = 16

/** Identifier strings (product, hardware model, channel, group). */
export const NAME_LENGTH_MAX = 64

/** Semver strings, including pre-release and build parts. */
export const VERSION_LENGTH_MAX = 64

/** Free text in an install report (an error line from the install hook). */
export const REPORT_DETAIL_LENGTH_MAX = 256

/** Products a publisher may be scoped to. */
export const PUBLISHER_PRODUCTS_MAX = 64

/** Firmware images: 4 GiB covers full rootfs images of embedded Linux gateways. */
export const IMAGE_BYTES_MAX = 4 * 1024 ** 3

/** Chunk sizes a release may declare: 16 KiB..4 MiB (libp2p's default stream read buffer). */
export const CHUNK_BYTES_MIN = 16 * 1024
export const CHUNK_BYTES_MAX = 4 * 1024 * 1024

/** Transactions per block; 100 is the benchmark's block, 1,000 leaves headroom for bursts. */
export const BLOCK_TXS_MAX = 1000

/** Encoded block bytes: BLOCK_TXS_MAX small transactions, well under a 4 MiB stream frame. */
export const BLOCK_BYTES_MAX = 2 * 1024 * 1024

/** A commit certificate holds at most one signature per validator. */
export const VALIDATORS_MAX = 64

/** Admin keys in genesis. */
export const ADMINS_MAX = 16

/** Genesis files are small JSON documents; refuse anything larger before parsing. */
export const GENESIS_BYTES_MAX = 64 * 1024

/** Key files are tiny JSON documents. */
export const KEY_FILE_BYTES_MAX = 4 * 1024

/** Parsed node:crypto public keys kept for the verify hot path (validators + active devices). */
export const VERIFY_KEY_CACHE_MAX = 16 * 1024

/** Audit queries return at most this many rows per call; callers page with `after`. */
export const AUDIT_ROWS_MAX = 10_000

/** Blocks read per batch while verifying a store on open; bounds memory on a long chain. */
export const STORE_VERIFY_BATCH_BLOCKS = 256

/** Default chain parameters, written into new genesis files. */
export const DEFAULT_BLOCK_INTERVAL_MS = 500
export const DEFAULT_EMPTY_BLOCK_INTERVAL_MS = 30_000

/** Small limits for tests, so the edges can be reached with small inputs. */
export const TEST_LIMITS = {
  TX_BYTES_MAX: 1024,
  BLOCK_TXS_MAX: 8,
  BLOCK_BYTES_MAX: 16 * 1024,
  IMAGE_BYTES_MAX: 1024 * 1024,
} as const
