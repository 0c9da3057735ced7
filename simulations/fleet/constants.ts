/**
 * The fleet simulator's model constants and limits (STYLE.md §3), each with where it comes
 * from. Capacities are in bits per second as fleets quote them; the driver converts.
 */

const MBIT = 1_000_000

/** A kind of device link, as fleets have them. */
export interface BandwidthClass {
  readonly name: string
  readonly downBitsPerSec: number
  readonly upBitsPerSec: number
  /** One-way latency of the access link (the last mile), added to every link's latency. */
  readonly accessMs: number
}

/**
 * Gateways on a LAN or fibre: symmetric 100 Mbit/s (Fast Ethernet uplinks of industrial
 * gateways, FTTH entry tiers), 2 ms to the aggregation network.
 */
export const LAN: BandwidthClass = {
  name: 'lan',
  downBitsPerSec: 100 * MBIT,
  upBitsPerSec: 100 * MBIT,
  accessMs: 2,
}
/** ADSL2+/VDSL-like: 50 down, 10 up (typical VDSL2 profiles), 10 ms of interleaving and access. */
export const DSL: BandwidthClass = {
  name: 'dsl',
  downBitsPerSec: 50 * MBIT,
  upBitsPerSec: 10 * MBIT,
  accessMs: 10,
}
/** LTE Cat-4 modems as deployed: 20 down, 5 up sustained, 30 ms radio access latency. */
export const CELLULAR: BandwidthClass = {
  name: 'cellular',
  downBitsPerSec: 20 * MBIT,
  upBitsPerSec: 5 * MBIT,
  accessMs: 30,
}

/** The origin (the publisher's gateway in a data centre): 100 Mbit/s up, like a LAN gateway. */
export const ORIGIN_CLASS: BandwidthClass = { ...LAN, name: 'origin' }

/** The heterogeneous mix: 20 % LAN gateways, 50 % DSL, 30 % cellular. */
export const HETEROGENEOUS_MIX: readonly { readonly cls: BandwidthClass; readonly share: number }[] = [
  { cls: LAN, share: 0.2 },
  { cls: DSL, share: 0.5 },
  { cls: CELLULAR, share: 0.3 },
]

/** Regions of the fleet (a partition cuts one off). */
export const REGIONS = 4
/** One-way latency between two nodes of one region, on top of both access links. */
export const INTRA_REGION_MS = 5
/** One-way latency between regions (a continent's backbone). */
export const INTER_REGION_MS = 25

/** gossipsub's mesh degree and its bounds (libp2p gossipsub v1.1 defaults). */
export const GOSSIP_D = 6
export const GOSSIP_D_LO = 4
export const GOSSIP_D_HI = 12
/** gossipsub's heartbeat: the mesh is repaired (graft/prune) at this interval. */
export const GOSSIP_HEARTBEAT_MS = 1_000
/** Time a node takes to validate and forward a gossip message, per hop. */
export const GOSSIP_HOP_MS = 2

/**
 * Neighbours each device dials for chunks; with the ones that dial it, ~2× as many links.
 * 8 out gives ~16 in total: BitTorrent clients keep 20–80, the real node TRANSFER_PEERS_MAX.
 */
export const OVERLAY_DIALS_PER_DEVICE = 8
/** Devices the origin is connected to (its node's bootstrap peers and inbound dials). */
export const ORIGIN_NEIGHBOURS = 16

/**
 * The node tells neighbours holding every chunk (the origin) of a new chunk at the end of the
 * turn that stored it, and everyone else every HAVE_UPDATE_INTERVAL_MS (src/constants.ts). The
 * first tier's flush goes out this long plus the nearest neighbour's latency later (one event
 * instead of one per neighbour), standing for the spread of the neighbours' latencies: 20 ms
 * is about the mean gap between a device's nearest neighbour and its average one (23 ms
 * heterogeneous, 15 ms all-DSL, 1k). Before the node batched its second tier, every update
 * went out at this delay: 100 ms made chunks spread slower than in the node (10,000
 * heterogeneous devices, seed 1, ratioToBound 1.303 at 100 ms, 1.254 at 20 ms, 1.239 at 0 ms),
 * and batching the node's updates to the origin too raised its egress from 1.00-1.06 to 1.30
 * image copies in the node benchmark, which is why the origin's tier is not batched.
 */
export const HAVE_BATCH_MS = 20

/** Time to hash a whole image after its last chunk, per byte (a gateway's SHA-256 at ~400 MB/s). */
export const VERIFY_MS_PER_BYTE = 1 / 400_000
/** The install hook's run time (A/B slot write, modelled as fixed). */
export const INSTALL_MS = 2_000

/** The confirm step after the hook (ask the installer, mark the slot good): a process start and a read. */
export const CONFIRM_MS = 200

/** Events pending at once, per device (chunk requests, deliveries, timers), before it is a bug. */
export const QUEUE_EVENTS_PER_DEVICE_MAX = 2_048
/** Events a run may process per device and chunk, a bound on every loop of the simulator. */
export const EVENTS_PER_DEVICE_CHUNK_MAX = 64
/** Simulated time a run may take before it is declared stuck. */
export const SIM_TIME_MAX_MS = 6 * 60 * 60_000
/** Memoised signature verdicts kept (cleared beyond). */
export const VERIFY_MEMO_MAX = 1_000_000
/** Submitted transactions the committee keeps for its validators' block decoding (cleared beyond). */
export const SUBMITTED_TX_MEMO_MAX = 1_000_000
/** Width of the buckets of the bandwidth-over-time series. */
export const BANDWIDTH_BUCKET_MS = 1_000
/** Points of the completion-over-time series. */
export const COMPLETION_POINTS_MAX = 400
