/**
 * Every limit of fwmesh in one place (STYLE.md §3): each with why and where the number comes
 * from. Units go last.
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

/**
 * Containers (arrays, maps, tags) open at once in any CBOR we decode from a peer or a file.
 * The deepest honest encoding is a NEW-VIEW (message, view changes, view change, prepared
 * proof, votes, vote, CID tag: 7 levels); transactions and blocks nest inside as byte strings,
 * each decoded on its own. 16 leaves room for new fields, and stays far below the ~3,000 levels
 * at which dag-cbor's recursive decoder and encoder overflow the stack.
 */
export const CBOR_DEPTH_MAX = 16

/**
 * Data items (map keys included) in one CBOR decode. The largest honest count is a full sync
 * response: SYNC_BLOCKS_MAX certified blocks with VALIDATORS_MAX votes of ~5 items each, about
 * 42,000. A one-byte item becomes a JavaScript value of 16 to 56 bytes, so without this bound a
 * 4 MiB message of empty maps would make ~200 MB of objects before the schema refuses it.
 */
export const CBOR_ITEMS_MAX = 128 * 1024

/**
 * One record of the ledger state on disk (src/ledger/state-records.ts). Each is derived from one
 * transaction body (at most TX_BYTES_MAX) plus a few fixed fields: a release record with 64
 * hardware names and 16 rollout waves is under 6 KiB.
 */
export const STATE_RECORD_BYTES_MAX = 2 * TX_BYTES_MAX

/** The store's head record: a height, a block hash and a time, about 80 bytes. */
export const STORE_HEAD_BYTES_MAX = 1024

/** Blocks read per batch while verifying a store on open; bounds memory on a long chain. */
export const STORE_VERIFY_BATCH_BLOCKS = 256

/**
 * The state root's tree has 2^this buckets (src/ledger/state-root.ts). 4,096 keeps a bucket
 * at ~25 records for a 100,000-record state (10,000 devices with their reports), so a block's
 * changed records cost a few hundred bytes of hashing each, and the 4,096 bucket hashes stay
 * cheap to rebuild on open. Part of the block format: changing it changes every root.
 */
export const STATE_ROOT_BUCKET_BITS = 12

/**
 * `ledger.max_chain_age` by default, in heartbeat intervals (genesis
 * `params.emptyBlockIntervalMs`): 90 s on a default chain. A crashed primary delays the next
 * block by one interval plus a view change (VIEW_CHANGE_TIMEOUT_BASE_MS, doubling per failed
 * view), so two intervals would call a healthy chain stale after one crash; three tolerate
 * that and one more late heartbeat, and bound how long a withheld chain is acted on.
 */
export const MAX_CHAIN_AGE_HEARTBEATS = 3
/** The range `ledger.max_chain_age` may be set to: 1 s to 7 days. */
export const MAX_CHAIN_AGE_MIN_MS = 1_000
export const MAX_CHAIN_AGE_MAX_MS = 7 * 24 * 3_600_000

/** Default chain parameters, written into new genesis files. */
export const DEFAULT_BLOCK_INTERVAL_MS = 500
export const DEFAULT_EMPTY_BLOCK_INTERVAL_MS = 30_000

// ---- Consensus (src/consensus) ----

/** Transactions waiting in a validator's mempool: ten full blocks, seconds of peak load. */
export const MEMPOOL_TXS_MAX = 10_000

/** Bytes waiting in the mempool: MEMPOOL_TXS_MAX typical 1-3 KiB transactions, well under RSS budgets. */
export const MEMPOOL_BYTES_MAX = 32 * 1024 * 1024

/**
 * The share of the mempool (count and bytes) one signer may hold, in percent. A flooding key
 * fills at most a tenth, so nine tenths stay free for everyone else.
 */
export const MEMPOOL_SIGNER_SHARE_PERCENT = 10

/** Pending transactions a backup re-sends to the primary per tick, so one tick stays cheap. */
export const MEMPOOL_RELAY_BATCH_TXS = 256

/**
 * Heights after the next one whose votes a replica keeps: a backup one commit behind the
 * primary receives the next pre-prepare first. Beyond this window it syncs instead.
 */
export const CONSENSUS_HEIGHTS_AHEAD_MAX = 4

/** Views after the current one whose messages a replica keeps (a NEW-VIEW may arrive late). */
export const CONSENSUS_VIEWS_AHEAD_MAX = 8

/**
 * Committed heights between checkpoints: the core tells its driver it may snapshot the
 * state and drop logs below, and announces its height so lagging peers learn to sync.
 */
export const CHECKPOINT_INTERVAL_BLOCKS = 128

/**
 * The first view-change timeout: a primary that has not committed pending work in this
 * time is replaced. Four block intervals plus WAN round-trips; doubles per failed view.
 */
export const VIEW_CHANGE_TIMEOUT_BASE_MS = 2_000

/** The view-change timeout stops doubling here, so a healed network recovers within a minute. */
export const VIEW_CHANGE_TIMEOUT_MAX_MS = 60_000

/** How often a replica re-sends its latest votes when nothing commits: channels may drop. */
export const CONSENSUS_RETRANSMIT_MS = 500

/** How far in the future of a backup's clock a proposed block's time may be. */
export const BLOCK_TIME_DRIFT_MAX_MS = 30_000

/**
 * How far in the past of a backup's clock a newly proposed block's time may be. A block's
 * time is the signed time devices judge freshness by (`ledger.max_chain_age`): with 2f+1
 * votes, at least f+1 honest validators saw it within this much of their clocks, so a faulty
 * primary cannot make a live chain look frozen (or a frozen one live). A block carried over a
 * view change is exempt: it was prepared earlier and must be re-proposed as it is.
 */
export const BLOCK_TIME_LAG_MAX_MS = 30_000

/** Blocks per sync response: 1,000 blocks in 8 round trips. */
export const SYNC_BLOCKS_MAX = 128

/** Bytes per sync response: libp2p's 4 MiB stream read buffer; one full block always fits. */
export const SYNC_RESPONSE_BYTES_MAX = 4 * 1024 * 1024

/** A sync request unanswered for this long goes to another peer. */
export const SYNC_REQUEST_TIMEOUT_MS = 2_000

/**
 * How long a replica that sees votes for later heights waits for its own commit before it
 * asks a peer for blocks: a round trip, so a replica one message behind does not sync.
 */
export const SYNC_DELAY_MS = 200

/**
 * A consensus message: a pre-prepare carries a whole block, a NEW-VIEW up to VALIDATORS_MAX
 * view changes with two certificates each (~10 KiB apiece).
 */
export const CONSENSUS_MESSAGE_BYTES_MAX = BLOCK_BYTES_MAX + 1024 * 1024

/**
 * Out-of-order committed blocks a follower buffers while it fetches the gap: the height window
 * past its head in which a block is kept at all. Only blocks whose certificate verifies are
 * kept (src/consensus/follower.ts).
 */
export const FOLLOWER_PENDING_BLOCKS_MAX = 256

/**
 * Encoded bytes of the blocks a follower holds ahead of its head, at most. 256 full blocks
 * would be 512 MiB; 32 MiB is 16 full blocks or thousands of ordinary ones, and the gap is
 * fetched by sync anyway. The blocks farthest from the head are dropped first.
 */
export const FOLLOWER_PENDING_BYTES_MAX = 32 * 1024 * 1024

/**
 * A follower calls the chain frozen when its head is older than this many empty-block
 * intervals (a freeze attack withholds blocks; one or two late heartbeats are normal).
 */
export const FOLLOWER_STALE_INTERVALS = 3

// ---- Transfer (src/transfer) ----

/**
 * Default chunk size of new manifests: 256 KiB. bench/transfer.ts sweeps 64 KiB..4 MiB: at 64 KiB
 * chunking runs ~15% and verifying ~30% slower than at 256 KiB; above 256 KiB the differences sit
 * within the run-to-run noise of a shared disk. libp2p moves 256 KiB chunks at 274–306 MB/s per
 * long-lived stream (FACTS.md). Smaller chunks multiply requests and the manifest; larger ones
 * make a failed or stalled request costlier and coarsen rarest-first.
 */
export const CHUNK_BYTES_DEFAULT = 256 * 1024

/**
 * Chunks in one manifest: IMAGE_BYTES_MAX (4 GiB) at 64 KiB chunks. The manifest then carries
 * 2 MiB of hashes, inside one 4 MiB libp2p frame; a peer's bitfield is 8 KiB. A release whose
 * image needs more chunks must use a larger chunk size.
 */
export const MANIFEST_CHUNKS_MAX = 64 * 1024

/** An encoded manifest: 32 bytes per chunk hash, plus a few small fields (under 200 bytes). */
export const MANIFEST_BYTES_MAX = MANIFEST_CHUNKS_MAX * 32 + 1024

/**
 * Neighbours one download schedules across; also the number of availability buckets of the
 * chunk picker. A libp2p node keeps tens of connections; 128 leaves room.
 */
export const TRANSFER_PEERS_MAX = 128

/**
 * Neighbours one transfer session (transfer/session.ts) keeps a record of: what it told them
 * and heard from them. A node's connections are capped well below this (network.max_connections).
 */
export const TRANSFER_NEIGHBOURS_MAX = 1_024

/**
 * Outputs a transfer session holds between polls: a have-update per neighbour per announce,
 * a have per neighbour told, a not-found per refused request. Drivers poll after every input.
 */
export const SESSION_OUTPUTS_MAX = 1 << 16

/**
 * Requests in flight per neighbour. The window starts at INITIAL and follows the neighbour's
 * measured rate between MIN and MAX. 16 × 256 KiB = 4 MiB queued: more than the
 * bandwidth-delay product of 100 Mbit/s at 300 ms (3.75 MB), and what an uploader queues per
 * peer (UPLOAD_QUEUE_PER_PEER_MAX).
 */
export const PEER_REQUESTS_IN_FLIGHT_MIN = 1
export const PEER_REQUESTS_IN_FLIGHT_INITIAL = 2
export const PEER_REQUESTS_IN_FLIGHT_MAX = 16

/**
 * Work the window keeps queued at a neighbour, in time at its measured rate: half a second
 * covers a round trip on any link a device uses (cellular: 2 × 30 ms access plus distance), so
 * the neighbour never idles between requests. A deeper queue commits chunks to a neighbour
 * long before it can send them, and the last ones wait there (1k heterogeneous, 64 MiB:
 * ratioToBound 1.39 at 1 s, 1.28 at 500 ms, 1.29 at 250 ms, where the median slows).
 */
export const PEER_QUEUE_TARGET_MS = 500

/**
 * Request timeouts. Before a neighbour's rate is known: 30 s (256 KiB at 10 KB/s, a weak
 * cellular link, takes 26 s). Once known: REQUEST_TIMEOUT_RATE_FACTOR times the time its queue
 * should take at that rate, clamped to [MIN, MAX].
 */
export const REQUEST_TIMEOUT_INITIAL_MS = 30_000
export const REQUEST_TIMEOUT_MIN_MS = 2_000
export const REQUEST_TIMEOUT_MAX_MS = 120_000
export const REQUEST_TIMEOUT_RATE_FACTOR = 4

/**
 * Chunks failing their hash (or truncated) before a neighbour is banned: the first is a penalty
 * (window back to its minimum). Noise's AEAD rules out corruption in transit, so a bad chunk
 * means a bad disk or a bad peer, and a second one is not an accident.
 */
export const BAD_CHUNK_STRIKES_MAX = 2

/**
 * Timeouts in a row, each after a penalty, before a neighbour is banned as stalled. Requests
 * queued before a penalty time out together and count once.
 */
export const STALL_STRIKES_MAX = 3

/** End-game: requests for one chunk at once (the first plus two duplicates), as in BitTorrent clients. */
export const ENDGAME_REQUESTS_PER_CHUNK_MAX = 3

/**
 * A neighbour that answers "busy" gets no requests for this long. Mostly the origin refusing a
 * chunk that a neighbour already holds (super-seeding); a refused device should ask elsewhere
 * soon, and be served by the origin after SEED_REFUSALS_BEFORE_SERVE_MAX refusals within a
 * second rather than three (1k heterogeneous, 64 MiB: ratioToBound 1.28 at 1 s, 1.22 at
 * 250 ms, origin copies 1.02 -> 1.36; homogeneous 1k unchanged at 1.10, 1.05 -> 1.25 copies).
 */
export const PEER_BUSY_BACKOFF_MS = 250

/**
 * Stealing (scheduler.ts `selectSteal`): a neighbour with nothing waiting to give may duplicate
 * a request that sits with a neighbour at least this many times slower, by the rates the
 * download measured. In a mixed fleet the per-requester rates of LAN, DSL and cellular uplinks
 * differ 10-20 times; 4 leaves neighbours of one class alone. 1k simulations, 64 MiB, seeds 1-6
 * (before → after): heterogeneous ratioToBound mean 1.249 → 1.236, worst 1.303 → 1.285, origin
 * copies 1.23 → 1.16; churn (seeds 1-4) ratio online worst 1.328 → 1.280; homogeneous unchanged.
 */
export const STEAL_RATE_RATIO_MIN = 4

/**
 * Hedging (slow retrieval, scheduler.ts `hedge`): a request to a neighbour that has delivered
 * nothing yet is overdue once it has waited HEDGE_RATE_FACTOR times its place in that
 * neighbour's queue at the best rate measured among the others, and at least HEDGE_MIN_MS; the
 * chunk is then asked of another holder too, and the first good copy cancels the other. Without
 * it, a neighbour that claims every chunk, takes requests and never answers held its chunks
 * until end-game (then behind the honest queues), or, when the only other holder was an origin
 * refusing the chunk as "busy", for three 30 s timeouts (docs/hardening.md, slow retrieval).
 * The factor is the request timeout's (REQUEST_TIMEOUT_RATE_FACTOR). The floor covers a round
 * trip and a chunk on a slow link's first request (256 KiB at 256 KiB/s); a hedge costs at
 * most one duplicate request, cancelled when the first copy lands. 1 s against 2 s in the fleet
 * simulations (150 heterogeneous devices, seeds 2 and 3): ratioToBound 1.69 and 2.10 against
 * 1.82 and 2.25 (1.78 and 2.19 without hedging); origin copies 1.23 and 1.20 (1.13 and 1.20).
 */
export const HEDGE_RATE_FACTOR = 4
export const HEDGE_MIN_MS = 1_000

/** Banned peer ids one download remembers (oldest forgotten first), so churn cannot grow it. */
export const BANNED_PEERS_MAX = 1_024

/**
 * Picker entries scanned for one request before the scheduler sweeps the neighbour's bitfield
 * instead: bounds the cost of choosing for a neighbour that holds few of the missing chunks.
 */
export const PICKER_SCAN_BUDGET = 64

/**
 * Outputs queued by one scheduler: the driver drains them after every input, and one input
 * produces at most a request and a cancel per in-flight slot of every neighbour.
 */
export const SCHEDULER_OUTPUTS_MAX = 4 * TRANSFER_PEERS_MAX * PEER_REQUESTS_IN_FLIGHT_MAX

/**
 * Chunk indices in one have-update message (a node announces each chunk once written; a `have`
 * on connect carries the whole bitfield).
 */
export const HAVE_UPDATE_CHUNKS_MAX = 1_024

/**
 * How long a downloading node gathers newly stored chunks before telling neighbours that are
 * still downloading (one have-update each for the lot). Messages, not bytes, were most of a
 * device's CPU in the swarm benchmark's cpuBound (calibrated at ~0.4 ms per message on each
 * side, against ~7 ms per MiB): a have-update per chunk to each of ~11 neighbours outnumbered
 * the chunk and its request five to one. A neighbour holding every chunk (the origin, whose
 * super-seeding must learn fast that a chunk has spread) is still told at the end of the turn.
 * 100 -> 400 ms: chunk-protocol messages per chunk delivered in cpuBound 5.7 -> 4.6 (swarm
 * bench `messagesPerChunk`, a count the machine's load does not move); the calibrated
 * simulator, seeds 1-3: cpuBound 3.06 -> 2.47 x the bound, linkBound 1.43 -> 1.41 (250 ms:
 * 2.66 and 1.41; 1,000 ms: 2.26 and 1.45, a neighbour's news a second late starts to cost).
 */
export const HAVE_UPDATE_INTERVAL_MS = 400

/** A chunk message: the chunk (at most CHUNK_BYTES_MAX) plus its envelope (CID, index, tag). */
export const CHUNK_MESSAGE_BYTES_MAX = CHUNK_BYTES_MAX + 1_024

/** Every other chunk-protocol message; the largest is a have bitfield (8 KiB) or a have-update (5 KiB). */
export const CHUNK_CONTROL_MESSAGE_BYTES_MAX = 16 * 1_024

/**
 * Chunks one node sends at once. FACTS.md: 8 long-lived libp2p streams saturate a core at
 * 480–550 MB/s; 4 leaves the gateway's other work room and still fills a 1 Gbit/s link.
 */
export const UPLOAD_SLOTS_MAX = 4

/** Requests queued per downloader: an honest one never has more than its window in flight. */
export const UPLOAD_QUEUE_PER_PEER_MAX = PEER_REQUESTS_IN_FLIGHT_MAX

/** Requests queued across all downloaders (32 full windows); beyond it, "busy". */
export const UPLOAD_QUEUE_TOTAL_MAX = 512

/**
 * Super-seeding (transfer/seed-policy.ts): the origin sends each chunk once, then answers
 * "busy" while a connected neighbour holds it, so the swarm carries the load. One copy leaves
 * the origin's uplink free for the chunks nobody has yet; the total-upload term of the lower
 * bound does not need the origin once the swarm holds a copy.
 */
export const SEED_COPIES_PER_CHUNK = 1

/**
 * Refusals of one chunk to one neighbour before the origin serves it anyway. A refused
 * neighbour backs off for PEER_BUSY_BACKOFF_MS, so a device whose neighbours lack a chunk
 * waits under a second for it, once, instead of starving.
 */
export const SEED_REFUSALS_BEFORE_SERVE_MAX = 3

/**
 * Copies of one chunk the origin sends in all before refusals alone stop earning it another
 * (a starving neighbour is still served). The refusal backstop shortens the tail of slow
 * devices (1k heterogeneous: ratioToBound 1.32 without it, 1.22 with it), but uncapped its
 * copies grew with the fleet (10k rollout: 2.31 image copies from the origin; 1.66 capped).
 */
export const SEED_BACKSTOP_COPIES_MAX = 2

/** Chunks whose refusals the origin counts per neighbour (oldest forgotten first). */
export const SEED_REFUSALS_TRACKED_PER_PEER_MAX = 256

/**
 * A neighbour refused by the origin that announces no chunk from elsewhere for this long has no
 * other source, and the origin serves it until it does (seed-policy.ts). Long enough that a
 * device whose neighbours are slow to send their first chunk is not mistaken for an isolated
 * one: when a staged rollout opens a wave, the new devices queue at the few devices of earlier
 * waves, and at 3 s every newly opened neighbour of the origin "starved" and was served ~25
 * chunks (1k waves simulation: 2.27 and 2.90 image copies from the origin for seeds 1 and 2;
 * 6 s: 1.39 and 2.16; 10 s: 1.13 and 1.45; the other scenarios unchanged but heterogeneous
 * seed 2, ratioToBound 1.299 -> 1.303). Short enough that an isolated device (reachable only
 * through the origin) loses only this much, once.
 */
export const SEED_STARVATION_MS = 10_000

/**
 * Verified bytes the chunk store lets accumulate before it makes them durable (fdatasync of the
 * image, then of the held-set file) and marks them held; writes wait when twice this is not
 * yet durable. Group commit: one fdatasync per chunk would cap writes at a few hundred chunks a
 * second on flash. Measured with chunks arriving in swarm order (4 paired runs, 1 GiB), 64 MiB
 * batches wrote 8–130% faster than 16 MiB ones. A crash costs at most 128 MiB of re-download, a second at
 * disk speed; on a slow link STORE_FLUSH_INTERVAL_MS bounds the loss first.
 */
export const STORE_FLUSH_BYTES = 64 * 1024 * 1024

/**
 * The chunk store's held-set file: two slots written in turn (a torn write spoils only one),
 * each a header (under 200 bytes), the bitfield and a checksum.
 */
export const HELD_STATE_BYTES_MAX = 2 * (256 + MANIFEST_CHUNKS_MAX / 8)

/**
 * LevelDB's block cache and memtable for the ledger store. The defaults (8 MiB and 4 MiB) suit a
 * database read at random; the ledger state is held in memory (ledger/state.ts) and LevelDB is
 * read at open, by sync requests and by `fwmesh audit`, and written once per block, so a small
 * cache and memtable cost little, and a gateway's follower keeps the memory.
 */
export const LEDGER_CACHE_BYTES = 1024 * 1024
export const LEDGER_WRITE_BUFFER_BYTES = 1024 * 1024

// ---- Node (src/node) ----

/**
 * A node's config file: a few dozen keys, hand-edited (the full example in docs is ~1.5 KiB).
 * Refused before parsing when larger.
 */
export const CONFIG_FILE_BYTES_MAX = 64 * 1024

/**
 * Nesting of inline arrays and tables in a config file: the deepest honest value is a list of
 * strings or a table of environment variables (2). smol-toml's own default is 1,000.
 */
export const CONFIG_DEPTH_MAX = 8

/**
 * JSON request bodies of the local HTTP API: a transaction envelope in base64 (TX_BYTES_MAX is
 * 8 KiB). An image is not a JSON body: it streams, up to its release's imageSize.
 */
export const API_BODY_BYTES_MAX = 64 * 1024

/** Nesting of a JSON request body: every route takes a flat object of strings (depth 1). */
export const API_BODY_DEPTH_MAX = 4

/** How long an API call may wait for a commit; a CLI that wants longer polls again. */
export const API_WAIT_MS_MAX = 120_000

/** A client must send its request headers within this (slowloris). */
export const API_HEADERS_MS = 10_000

/**
 * A connection with no byte either way for this long is closed: longer than the longest wait
 * for a commit, during which an answer is pending and nothing moves.
 */
export const API_IDLE_MS = API_WAIT_MS_MAX + 10_000

/** Open connections to the local API: the CLI uses one at a time, a dashboard a few. */
export const API_CONNECTIONS_MAX = 64

/** A bearer token of the API (api.token_file) is at least this long: 16 random characters. */
export const API_TOKEN_LENGTH_MIN = 16
/** ...and at most this: it travels in a header. */
export const API_TOKEN_LENGTH_MAX = 1024

/**
 * Images waiting, on the publisher's node, for their release to commit before it seeds them
 * (src/node/image-import.ts). A publish beyond it is answered 503: they commit within seconds.
 */
export const PUBLISH_STAGED_IMAGES_MAX = 4

/** Image uploads a node takes at once; each writes a file and hashes it as it arrives. */
export const PUBLISH_UPLOADS_MAX = 1

/**
 * A staged image whose release has not committed after this long is deleted (at start, and
 * when another publish stages an image): its transaction was dropped, or never reached a block.
 */
export const PUBLISH_STAGED_TTL_MS = 24 * 3_600_000

/**
 * setTimeout's longest delay, 2^31-1 ms (24.8 days): a longer one fires after 1 ms instead
 * (Node prints a TimeoutOverflowWarning). src/node/timers.ts chains shorter ones.
 */
export const TIMER_DELAY_MS_MAX = 2 ** 31 - 1

/**
 * V8 settings the `fwmesh` command applies to its own process before it loads anything else
 * (src/cli/heap-tuning.ts). Node 20 lets V8's young generation grow to two 16 MiB semi-spaces:
 * loading libp2p alone grows it to the full 32 MiB, which an idle follower then keeps. Measured
 * on a synced follower (4 validators, 3 devices, 127.0.0.1, Node 20.20): 111–115 MB RSS, of which
 * 32 MB young generation, 22 MB old generation and 47 MB mapped code of the node binary; after the
 * node benchmark's rollout 128–159 MB. A growth factor of 1 keeps the first 1 MiB semi-space:
 * 88–89 MB idle, 86–88 MB in bench/download.ts; the node benchmark's idleRssMB 159 -> 105 MB (one
 * run each, load 10–16). The peak RSS growth of a 1 GiB download (bench/download.ts, one seed)
 * fell from 55–78 MB to 19–26 MB in six of seven runs (76 MB in one at load 20), but in the node
 * benchmark's last phase it was 73 MB (54.6 MB before): download memory is NOT bounded by this,
 * and single-seed loopback throughput was 59–79 MB/s against 85–113 MB/s without it (noisy,
 * shared machine). `--max-semi-space-size` would be the direct setting, but V8 reads it only when the
 * heap is created, so it cannot be set from inside the process; the growth factor is read at
 * every growth decision, and the measurements above show it takes effect.
 */
export const V8_SEMI_SPACE_GROWTH_FACTOR = 1

/**
 * Free the memory of dead ArrayBuffers (chunk data, socket reads) during the GC that finds them
 * dead, not later on a background thread. On two busy cores the background sweep lagged: 18 MiB
 * of dead 256 KiB buffers were still allocated after a scavenge, and none after it with this off.
 */
export const V8_CONCURRENT_ARRAY_BUFFER_SWEEPING = false

/**
 * The highest tier V8 compiles JavaScript to (`--max-opt`: 0 interpreter, 1 Sparkplug, 2
 * Maglev, 3 Turbofan). 2 keeps Turbofan off; Node 20 ships Maglev disabled, so there the
 * top tier is Sparkplug's baseline code. The node's hot paths are native (node:crypto hashes,
 * verifies and seals noise frames), and Turbofan's code, its compile zones and the pages of
 * the node binary it runs from cost an idle follower ~2-3 MB. Measured, load 5-17 from other
 * work: node benchmark probe, 12 idle followers 30-60 s after the rollout, one run: mean RSS
 * 73.1 MB against 75.1-77.9 in three runs without (code pages and malloc arenas outside the brk
 * heap 3.3 MB against 3.8-4.3); bench/download.ts 512 MiB from one seed, alternated: 35.6 and
 * 35.1 MB/s, device CPU 12.5 and 11.3 s without; 32.1 and 39.4 MB/s, 10.2 and 11.2 s with (no
 * cost within the noise). ed25519 verify is node:crypto (a micro benchmark: 5,257 -> 7,103/s,
 * noise); the node benchmark's committed reports per second were as noisy with it (26-60) as
 * without (36-52). Pure-JS work does slow: a DAG-CBOR round trip of a 256 KiB chunk message
 * 8,449 -> 2,264/s, still 590 MB/s, ten times the download's rate.
 */
export const V8_MAX_OPT_TIER = 2

/**
 * How often the node compares its heap and ArrayBuffer memory with what the last full GC left
 * (src/node/memory-watch.ts), and the garbage it lets pile up before it runs a full GC itself.
 * V8 sizes its old generation from the live heap and sees dead ArrayBuffers only through a
 * 64 MB external-memory trigger: a node that had downloaded an image kept ~25 MB of dead heap
 * and 22 MB of dead chunk buffers for minutes, and a 1 GiB download began with a 55 MB spike
 * (node benchmark). Checked once a second (a memoryUsage() read, ~10 µs), and by a download
 * every MEMORY_CHECK_BYTES it receives, since at loopback speed a second is 75 MB of chunk
 * buffers. bench/download.ts, 1 GiB from one seed on 127.0.0.1: RSS growth 41.5 MB without the
 * watch, 29.9–33.6 MB with a 16 MiB slack checked every 8 MiB, 23.9–25.5 MB with 8 MiB every
 * 4 MiB, at 64–65 MB/s instead of 75–76 (the full GCs). A gateway's link (12.5 MB/s at
 * 100 Mbit/s) pays a fifth of that; nothing is paid when idle.
 */
export const MEMORY_WATCH_INTERVAL_MS = 1_000
export const MEMORY_GARBAGE_SLACK_BYTES = 8 * 1024 * 1024
/**
 * When a node turns idle (this long without a download or a collection for garbage; startup
 * and a ledger sync count as busy through the collections they cause), the memory watch runs
 * MEMORY_SETTLE_COLLECTIONS full GCs, one a second. Two, because one does not give pages back:
 * V8 sweeps after the collection and releases the pages that sweeping emptied only at the next
 * one (a bare `node`: 40 MB of dead objects, heap total 45.2 MB after one gc(), 7.9 MB after a
 * second, RSS -38 MB a second later). The GC also frees dead ArrayBuffers (socket reads, noise
 * frames), and glibc gives back the top of its heap once nothing live is above. Node benchmark
 * probe, 12 idle followers sampled for 30 s after their rollout, one run each:
 * mean RSS 77.5 -> 75.1 MB, highest sample 83.6 -> 79.7 MB; the figures in docs/memory.md
 * section. Costs two ~20 ms GCs per busy spell.
 */
export const MEMORY_IDLE_AFTER_MS = 10_000
export const MEMORY_SETTLE_COLLECTIONS = 2
export const MEMORY_CHECK_BYTES = 4 * 1024 * 1024

// ---- Agent (src/agent) ----

/**
 * Download attempts for one release (a failed fetch, an unreadable image, or an image whose
 * SHA-256 is not the release's) before the agent reports `failed` and gives the release up.
 * With the backoff below, five attempts span about a quarter of an hour plus the downloads:
 * long enough to ride out neighbours coming and going, short enough that a broken release
 * shows up on the ledger the same hour.
 */
export const AGENT_DOWNLOAD_ATTEMPTS_MAX = 5

/**
 * Backoff before download attempt n + 1: BASE × 2^(n−1), capped at MAX. With a PRNG handed in,
 * the agent draws the delay from [½, 1] of that, so a fleet that failed together (a seed
 * went offline) does not retry in lockstep.
 */
export const AGENT_RETRY_BACKOFF_BASE_MS = 60_000
export const AGENT_RETRY_BACKOFF_MAX_MS = 60 * 60_000

/**
 * Free space a download needs beyond the bytes it still has to write: the larger of
 * DISK_MARGIN_BYTES_MIN and DISK_MARGIN_FRACTION of the image. The margin keeps room for
 * what else lives on the data directory's file system while the image grows (the held-state
 * file, the agent's state, the ledger store, logs) and for file-system overhead, so a device
 * that starts a download can finish it instead of filling the disk on its last chunks.
 */
export const DISK_MARGIN_BYTES_MIN = 64 * 1024 * 1024
export const DISK_MARGIN_FRACTION = 0.05

/**
 * Install attempts begun without an outcome seen, i.e. restarts during `installing` while the
 * target is not what runs. A hook that crashes the device every time must not loop forever;
 * three survives one power cut and one unlucky reboot.
 */
export const AGENT_INSTALL_ATTEMPTS_MAX = 3

/**
 * Confirmations (the `confirm` hook, docs/lifecycle.md) whose answer was "unknown" (the
 * installer busy or not running) before the agent reports `failed`. They follow the download
 * backoff (1, 2, 4, 8, 16 minutes): half an hour for RAUC's service to finish an install a
 * timeout cut short, or for an installer that starts late at boot.
 */
export const AGENT_CONFIRM_ATTEMPTS_MAX = 6

/**
 * The confirm hook's default timeout: it asks the installer which version runs and marks it
 * good (`rauc status mark-good`, `mender commit`), seconds of work; two minutes covers an
 * installer service still starting at boot.
 */
export const CONFIRM_HOOK_TIMEOUT_MS = 2 * 60_000

/**
 * Submissions of one install report. Each is the same signed body (same time, same nonce), so
 * a resubmission of a report that did commit is refused as a duplicate, which the agent takes
 * as committed. After the last, the agent drops the report with a log output: a device whose
 * reports the ledger keeps refusing must not spam the mempool.
 */
export const AGENT_REPORT_ATTEMPTS_MAX = 5

/**
 * A submitted report not seen committed after this long is submitted again; the wait doubles
 * per attempt up to MAX. One minute is 120 block intervals (DEFAULT_BLOCK_INTERVAL_MS): a
 * report that has not committed by then was lost in gossip or refused silently.
 */
export const AGENT_REPORT_TIMEOUT_MS = 60_000
export const AGENT_REPORT_TIMEOUT_MAX_MS = 30 * 60_000

/**
 * Reports waiting to be seen committed. A target produces up to four (downloading, installing,
 * pending-reboot, then its outcome) and the agent holds one target at a time; eight leaves room
 * for a switch to a newer release. Beyond it the oldest is dropped, with a log output.
 */
export const AGENT_PENDING_REPORTS_MAX = 8

/**
 * Releases a device gave up on (install failed, downloads exhausted), never tried again; the
 * oldest is forgotten first. Versions only grow per channel, so an old entry rarely matters.
 */
export const AGENT_GIVEN_UP_RELEASES_MAX = 32

/**
 * Releases of the device's product and channel looked at per decision, newest first. The scan
 * stops at the installed version anyway; this bounds it for a device hundreds of releases
 * behind, which still finds the newest of them.
 */
export const AGENT_CANDIDATES_MAX = 256

/** A release id: a publish transaction's CID string is 59 characters; room for other bases. */
export const AGENT_RELEASE_ID_LENGTH_MAX = 128

/** A boot id (Linux: /proc/sys/kernel/random/boot_id, 36 characters), as the agent persists it. */
export const BOOT_ID_LENGTH_MAX = 128

/** An image path the driver hands in and the agent persists: Linux's PATH_MAX. */
export const AGENT_IMAGE_PATH_LENGTH_MAX = 4096

/**
 * The persisted agent state: a dozen small fields, AGENT_PENDING_REPORTS_MAX reports of under
 * 500 bytes, AGENT_GIVEN_UP_RELEASES_MAX ids and one path come to under 12 KiB.
 */
export const AGENT_STATE_BYTES_MAX = 32 * 1024

/**
 * Outputs queued between two polls: one input yields at most a persist, a cancel, a fetch or
 * install, a few logs and a resubmission of every pending report. More is a driver that
 * forgot to poll, which the agent asserts against.
 */
export const AGENT_OUTPUTS_MAX = 64

/**
 * The install hook's default timeout. A full rootfs written to eMMC or NAND at 10–20 MB/s
 * takes a few minutes; fifteen also covers slow flash and the node config's default.
 */
export const INSTALL_HOOK_TIMEOUT_MS = 15 * 60_000

/**
 * After the timeout the hook's process group gets SIGTERM, then SIGKILL after this grace:
 * enough for rauc, swupdate or mender to abort cleanly and unmount their slot.
 */
export const INSTALL_HOOK_KILL_GRACE_MS = 10_000

/**
 * Bytes of the hook's stderr (and stdout) kept, the last ones: the install report carries
 * REPORT_DETAIL_LENGTH_MAX characters of it, the node's log the rest. A hook printing a
 * progress bar for minutes must not grow the node's memory.
 */
export const INSTALL_HOOK_OUTPUT_TAIL_BYTES = 4 * 1024

/**
 * After the hook exits, how long its output pipes may stay open: a hook that leaves a
 * background process holding them must not keep the install from completing.
 */
export const INSTALL_HOOK_OUTPUT_DRAIN_MS = 2_000

/**
 * A follower gossips a transaction it took until a neighbour has it (src/node/daemon.ts):
 * again every TX_GOSSIP_RETRY_MS, at most TX_GOSSIP_ATTEMPTS_MAX times, ~1 minute: a node that
 * has just started finds its first gossip neighbours within seconds.
 */
export const TX_GOSSIP_RETRY_MS = 1_000
export const TX_GOSSIP_ATTEMPTS_MAX = 60

/** Messages queued for one unreachable or slow validator; PBFT recovers lost ones by sync. */
export const PBFT_OUTBOX_MAX = 1024

/**
 * Consensus messages one validator may hand another per second (src/node/inbound-budget.ts);
 * faster senders are held back by flow control. Honest traffic is a few votes per block plus
 * one message per relayed transaction: the consensus benchmark commits ~1,000-1,400 tx/s, all
 * relayed through one backup in the worst case, so 4,000 leaves room; a byzantine validator
 * flooding at that rate costs each honest one ~4,000 signature checks a second (~0.25 s of a
 * core), measured by `npm run test:attacks` (vote flood).
 */
export const PBFT_INBOUND_MESSAGES_PER_SEC = 4_000
/** Messages a validator may send back to back before the rate applies (a sync answer, a catch-up). */
export const PBFT_INBOUND_BURST = 8_000

/**
 * Provable faults (bad signature, impersonation, double vote) of one validator within
 * PBFT_STRIKE_WINDOW_MS after which the others stop reading it (src/node/faulty-validators.ts).
 * An honest validator commits none; a flood of forged votes reaches it in milliseconds.
 */
export const PBFT_MUTE_AFTER_FAULTS = 32
export const PBFT_STRIKE_WINDOW_MS = 10_000
/** How long a provably faulty validator is not read; doubles while it goes on. */
export const PBFT_MUTE_MS = 10_000
/** The longest mute: a validator repaired (a bug fixed, a key replaced) is heard again by then. */
export const PBFT_MUTE_MAX_MS = 10 * 60_000
/** A fault of one kind from one validator is logged once per interval, then counted. */
export const PBFT_FAULT_LOG_INTERVAL_MS = 10_000

/** A write to a validator stream that takes longer means the stream is dead. */
export const PBFT_WRITE_TIMEOUT_MS = 5_000

/** Rejections of locally submitted transactions kept for `fwmesh status`. */
export const RECENT_REJECTIONS_MAX = 64

/** API calls waiting for a transaction to commit, at once. */
export const TX_WAITERS_MAX = 4096

/**
 * A manifest no neighbour sends within this long fails the fetch (the agent retries later).
 * Neighbours far from the origin get the manifest only once a nearer one has it.
 */
export const MANIFEST_FETCH_TIMEOUT_MS = 30_000

/** Opening a chunk stream to a connected neighbour taking longer means the connection is gone. */
export const TRANSFER_WRITE_TIMEOUT_MS = 30_000

/**
 * yamux's largest data frame. Its default, 64 KiB, cut every 256 KiB chunk into four frames,
 * each with its own header, send call, window accounting and, on the receiving side, a window
 * update frame back (yamux sends one after every data frame it takes in). 256 KiB carries a
 * chunk in one; noise still seals it in 64 KiB messages.
 */
export const YAMUX_FRAME_BYTES_MAX = 256 * 1024
/**
 * The most a yamux stream's receive window may grow to (it doubles while the reader keeps up).
 * yamux's default, 16 MiB, is what a neighbour could push into one stream after this node paused
 * it (the chunk links pause a stream whose frames wait unread); 1 MiB still fills a 100 ms path
 * at 10 MB/s, far more than a gateway's uplink.
 */
export const YAMUX_STREAM_WINDOW_BYTES_MAX = 1024 * 1024

/**
 * A chunk-protocol frame, in either direction, may take FRAME_DEADLINE_BASE_MS plus its size at
 * FRAME_FLOOR_BYTES_PER_SEC; a neighbour slower than that is stalling, and its link is dropped.
 * 16 KiB/s is a sixteenth of the slowest device downlink the simulator models (256 KiB/s, shared
 * by up to 16 requests in flight), so an honest neighbour on a poor link never meets it, while a
 * peer that starts a frame and stops holds its buffer for seconds, not the hour it did: a 256 KiB
 * chunk gets 26 s. Time this node holds the stream paused (its own download limit) does not count.
 */
export const FRAME_DEADLINE_BASE_MS = 10_000
export const FRAME_FLOOR_BYTES_PER_SEC = 16 * 1024
/** How often the chunk links' deadlines are checked: one timer for all links, none per frame. */
export const FRAME_WATCHDOG_INTERVAL_MS = 1_000
/**
 * Frames read off a chunk stream and not yet handled before the stream is paused (yamux then
 * stops granting the sender window). Two: one being handled, one ready behind it.
 */
export const CHUNK_LINK_QUEUED_FRAMES_MAX = 2
/**
 * Messages a chunk link writes in one send. What waits is bounded already (upload slots, the
 * scheduler's requests in flight, one have-update per chunk); this bounds one write's list.
 */
export const CHUNK_LINK_WRITE_BATCH_MAX = 256
/**
 * Chunk streams a neighbour may open to this node at once: one link per neighbour, both sides
 * possibly opening theirs at the same moment, and a spare while a broken one closes. libp2p's
 * default is 32 per connection, each able to hold a frame's buffer.
 */
export const CHUNK_INBOUND_STREAMS_MAX = 4
/**
 * After a chunk link to a still-connected neighbour breaks, this node tells it its downloads
 * again after this long: long enough for the broken stream's close to reach both sides (a
 * message sent sooner could land on the stream being torn down), short beside a download.
 */
export const LINK_RETELL_DELAY_MS = 1_000
/**
 * Frames larger than a control message (chunks, manifests) a neighbour may send beyond what was
 * asked of it: a request cancelled while its chunk was already on the way still arrives. A peer
 * that sends more large frames than it was asked for (plus this slack), or a larger one than it
 * was asked for (a chunk message of the image's chunk size, or a manifest), is disconnected.
 * Chunk and manifest credits are counted apart, each up to this.
 */
export const LARGE_FRAME_CREDIT_MAX = 2 * PEER_REQUESTS_IN_FLIGHT_MAX

/**
 * A downloading node flushes its chunk store (and announces the chunks that became held) at
 * least this often, so on a slow link neighbours learn of new chunks promptly and a crash
 * loses at most this much work.
 */
export const STORE_FLUSH_INTERVAL_MS = 2_000

/**
 * Inbound connections accepted per second from one IP address. libp2p's default of 5 is too
 * low for a site whose devices reach a gateway through one NAT address (and for nodes on one
 * machine in tests and the demo); a flood from one address is still bounded.
 */
export const INBOUND_CONNECTIONS_PER_HOST_PER_SEC = 64

/** Connections being set up at once (noise handshakes are CPU work). */
export const INBOUND_PENDING_CONNECTIONS_MAX = 64

/**
 * The default of `network.target_connections`: the node dials peers it knows of (bootstrap
 * addresses, peers found by mDNS or peer exchange, peers it lost) only while it has fewer open
 * connections than this. libp2p 3 dials none of them by itself, and a LAN of hundreds of
 * devices must not make every node dial every other. 32 is well above gossipsub's mesh (D = 6,
 * Dhi = 12) and gives a download tens of neighbours to spread its requests over.
 */
export const NETWORK_TARGET_CONNECTIONS_DEFAULT = 32

/**
 * The default of `network.max_connections`, which is libp2p's `maxConnections`: above it libp2p
 * closes the newest connections, and at it refuses inbound ones. Every node dials up to its
 * target and is dialled on average as often as it dials, so twice the target is room for both;
 * it is also TRANSFER_PEERS_MAX, the neighbours one download spreads over, beyond which more
 * connections give a download nothing. A bootstrap node that a whole fleet dials first (the
 * origin) needs more; each connection holds a socket, so past ~1,000 raise `ulimit -n`.
 */
export const NETWORK_MAX_CONNECTIONS_DEFAULT = 128
/** The range `network.max_connections` accepts. */
export const NETWORK_MAX_CONNECTIONS_LIMIT = 10_000

// ---- Configuration ranges (src/node/config.ts, docs/configuration.md) ----

/**
 * `device.install_timeout`: at least a second (a hook that may not run is a typo), at most a
 * week. The agent installs nothing else while a hook runs, so a hook that needs longer is hung;
 * and a week stays well inside what one timer can wait (TIMER_DELAY_MS_MAX, 24.8 days).
 */
export const CONFIG_INSTALL_TIMEOUT_MS_MIN = 1_000
export const CONFIG_INSTALL_TIMEOUT_MS_MAX = 7 * 86_400_000

/** `device.confirm_timeout`: from a second (like install_timeout) to an hour: it asks, it does not write. */
export const CONFIG_CONFIRM_TIMEOUT_MS_MAX = 60 * 60_000

/** `device.boot_id_file`: Linux's id of the current boot, new at every boot. */
export const BOOT_ID_FILE_DEFAULT = '/proc/sys/kernel/random/boot_id'

/**
 * `bandwidth.upload` and `bandwidth.download` (0 is unlimited): at least 8 KiB/s, so a default
 * 256 KiB chunk moves in 32 s, inside REQUEST_TIMEOUT_MAX_MS (120 s) with room to spare; a
 * lower limit makes every request of a neighbour time out, and the node a stalled peer. At
 * most 10 GiB/s (80 Gbit/s), beyond any gateway's link: a larger number is a typo.
 */
export const CONFIG_RATE_BYTES_PER_SEC_MIN = 8 * 1024
export const CONFIG_RATE_BYTES_PER_SEC_MAX = 10 * 1024 ** 3

/** `network.listen`: a node listens on a few addresses (IPv4, IPv6, a second port). */
export const CONFIG_LISTEN_ADDRESSES_MAX = 16

/** `network.bootstrap`: a handful of well-known nodes per site; peer exchange finds the rest. */
export const CONFIG_BOOTSTRAP_MAX = 256

/** `api.allowed_hosts`: the gateway's names and addresses, a proxy's. */
export const CONFIG_ALLOWED_HOSTS_MAX = 64

/** `device.install_command`: a program and its arguments. */
export const CONFIG_INSTALL_COMMAND_WORDS_MAX = 64

/** `device.install_env`: a few variables for the hook. */
export const CONFIG_INSTALL_ENV_MAX = 64

/**
 * Redialling (src/node/redial.ts): a failed dial of a known peer is retried after 1 s, then
 * 2, 4, 8, 16 s, then every 30 s for as long as the node runs, each delay scaled by a random
 * factor in [0.5, 1.5) so a fleet that lost its origin at once does not redial it in lockstep.
 * 1 s rides out a peer that is still binding its port; 30 s (15–45 s with the jitter) brings a
 * rebooted gateway back within a minute, while 10,000 devices dialling a dead origin send it
 * ~330 refused SYNs a second, which costs it little. A connection that stayed open 10 s was a
 * success (the backoff starts over when it closes); one closed sooner, as a peer at its limit
 * prunes the newest, counts as a failure, so such a peer is not redialled every second.
 */
export const REDIAL_BACKOFF_BASE_MS = 1_000
export const REDIAL_BACKOFF_MAX_MS = 30_000
export const REDIAL_BACKOFF_FACTOR = 2
export const REDIAL_BACKOFF_JITTER = 0.5
export const REDIAL_STABLE_CONNECTION_MS = 10_000

/**
 * Gossipsub's lazy gossip (IHAVE) of the block and transaction topics: the heartbeats a message
 * is advertised in after it arrives (gossipsub's `mcacheGossip`, 3 by default) and the peers
 * outside the mesh each advertisement goes to (`Dlazy`, 6 by default). Gossip is only the
 * repair path here: blocks flood the mesh (D = 6) and every node pulls from each neighbour on
 * connect and from the sender of any block that skips ahead (the sync protocol). With the
 * defaults an idle follower sent 4.2 IHAVEs a second for one empty block every 5 s, each its
 * own noise message, yamux frame and window update back (counted in an idle fleet of 4
 * validators and 16 devices). One heartbeat to three peers: `npm run bench -- swarm --scenario
 * idle --anchors 0 --idle-seconds 40`, one run each, load 4-6: follower 2.12 -> 1.26 % of a
 * core, validator 1.95 -> 1.46 %.
 */
export const GOSSIP_HISTORY_HEARTBEATS = 1
export const GOSSIP_LAZY_PEERS = 3

/**
 * Gossip messages past these sizes are refused (and the sender penalised) before decoding:
 * a block message is a block (BLOCK_BYTES_MAX) and its certificate (under 8 KiB); a
 * transaction message is one envelope (TX_BYTES_MAX and its signature).
 */
export const GOSSIP_BLOCK_MESSAGE_BYTES_MAX = BLOCK_BYTES_MAX + 16 * 1024
export const GOSSIP_TX_MESSAGE_BYTES_MAX = TX_BYTES_MAX + 1024

/**
 * Gossipsub peer scoring (docs/hardening.md, "Gossip validation and peer scoring"). A peer's
 * score starts at 0 and only misbehaviour lowers it: honest peers send nothing our topic
 * validators reject, so rewards for mesh time and first deliveries are off (they only made
 * scores of honest peers differ). Each message a validator rejects adds 1 to the sender's
 * invalid-message counter c on that topic, and the topic adds c² × GOSSIP_INVALID_MESSAGE_WEIGHT
 * to the score: one invalid message is -10 (at the gossip threshold), two -40 (no more
 * gossip to or from the peer), three -90 (graylisted: every RPC from it is dropped unread).
 * The counter decays by GOSSIP_INVALID_MESSAGE_DECAY each second (half-life 69 s), and a
 * disconnected peer's score is kept for an hour (gossipsub's `retainScore`), so reconnecting
 * does not clear it.
 */
export const GOSSIP_INVALID_MESSAGE_WEIGHT = -10
export const GOSSIP_INVALID_MESSAGE_DECAY = 0.99
/** Below this score a peer gets no IHAVE/IWANT gossip from us and its gossip is ignored. */
export const GOSSIP_GOSSIP_THRESHOLD = -10
/** Below this score we publish nothing to the peer (flood publishing, fanout). */
export const GOSSIP_PUBLISH_THRESHOLD = -50
/** Below this score every RPC from the peer is dropped before its messages are looked at. */
export const GOSSIP_GRAYLIST_THRESHOLD = -80

/** How often the connector looks for due dials: a quarter of the first backoff, a map scan. */
export const REDIAL_TICK_MS = 250

/**
 * Peers the connector remembers to redial. Bootstrap peers are always kept; past this, the
 * learned peer with the most failed dials is forgotten, so peer exchange from a churning (or
 * lying) fleet cannot grow it. Four times the default max connections.
 */
export const REDIAL_KNOWN_PEERS_MAX = 512

/**
 * Peer exchange (`/fwmesh/<chain>/peers/1`, src/node/peer-exchange.ts): peers one answer lists.
 * Sixteen random neighbours from each of a few neighbours fill the default target of 32.
 */
export const PEER_EXCHANGE_PEERS_MAX = 16

/**
 * Addresses per listed peer: a node listening on 0.0.0.0 has one per interface (loopback,
 * LAN, a container bridge, IPv6); the answer puts loopback last.
 */
export const PEER_EXCHANGE_ADDRS_PER_PEER_MAX = 4

/** A peer id in text (Ed25519 ones are 52 characters, CIDv1 forms ~62). */
export const PEER_EXCHANGE_PEER_ID_LENGTH_MAX = 64

/** A multiaddr in text: a 253-character DNS name plus its protocol parts. */
export const PEER_EXCHANGE_ADDR_LENGTH_MAX = 300

/**
 * One peer-exchange answer: PEER_EXCHANGE_PEERS_MAX peers of at most
 * PEER_EXCHANGE_ADDRS_PER_PEER_MAX addresses at their longest encode to ~20 KiB
 * (test/node/peer-exchange.test.ts checks that the largest valid answer fits).
 */
export const PEER_EXCHANGE_RESPONSE_BYTES_MAX = 24 * 1024

/** One peer-exchange request: a map with one small integer. */
export const PEER_EXCHANGE_REQUEST_BYTES_MAX = 64

/** A peer-exchange request unanswered for this long is given up (a loopback answer takes ms). */
export const PEER_EXCHANGE_TIMEOUT_MS = 5_000

/**
 * While below its target, a node also asks one random neighbour for peers (besides asking
 * every neighbour once when it connects): after 1 s, then 2, 4, 8, 16 s, then every 30 s,
 * and after 1 s again whenever an answer names a peer it did not know. Devices that start
 * together ask the origin before it has heard of each other; the quick early asks mesh them
 * within seconds, and 30 s keeps an idle small fleet (below target for good) cheap.
 */
export const PEER_EXCHANGE_INTERVAL_MIN_MS = 1_000
export const PEER_EXCHANGE_INTERVAL_MAX_MS = 30_000

/** Peer-exchange streams a neighbour may have open to us at once; one ask is one stream. */
export const PEER_EXCHANGE_INBOUND_STREAMS_MAX = 2

/** A device waiting for a manifest asks its neighbours again at this interval. */
export const MANIFEST_RETRY_INTERVAL_MS = 2_000

/**
 * Manifests a node keeps ahead of their download (fetched when a release for it is published,
 * before its approval), each with the haves its neighbours sent for the image meanwhile. A
 * device fetches one release at a time and prefetches only the newest one awaiting approval:
 * 4 leaves room for a replaced release. Up to 4 × MANIFEST_BYTES_MAX (8 MiB) of manifests and
 * 4 × TRANSFER_PEERS_MAX bitfields (8 KiB each at most) in the worst case.
 */
export const MANIFESTS_AHEAD_MAX = 4

/** A validator that could not reach another retries after this delay, keeping its queue. */
export const PBFT_REDIAL_DELAY_MS = 500

/** Releases of its product a device lists in `fwmesh status`, newest first. */
export const STATUS_RELEASES_MAX = 10

/**
 * `fwmesh status --wait` asks the node again after this while it is unreachable or its chain is
 * not live: a node starts in about half a second and a heartbeat block is seconds apart, so a
 * second costs a waiting operator little and the node one small request per second.
 */
export const STATUS_WAIT_POLL_MS = 1_000

/**
 * Rollout progress on the mesh (src/agent/progress.ts, src/node/progress-gossip.ts). A device
 * publishes a signed progress message when its state for a release changes, and while it
 * downloads at most once per PROGRESS_INTERVAL_MS: a percent every 5 s is what an operator
 * watching a table needs, and 1,000 downloading devices then make 200 small messages a second
 * on the mesh, against one block message per block.
 */
export const PROGRESS_INTERVAL_MS = 5_000

/**
 * A progress message is a few fields, a 32-byte key and a 64-byte signature (~250 bytes with a
 * full reason and a release id): anything longer is refused before decoding.
 */
export const PROGRESS_MESSAGE_BYTES_MAX = 1_024

/** Characters of a failure reason a progress message carries (an install report's detail is longer; this is a hint). */
export const PROGRESS_REASON_CHARS_MAX = 200

/**
 * Progress entries every node keeps, the newest per (release, device), in memory: ~300 bytes
 * each, so 3 MiB at most. 10,000 covers a fleet of 10,000 devices on one release, or 2,500 on
 * four at once; past it the entry updated longest ago is dropped (its device is then shown
 * from the ledger alone).
 */
export const PROGRESS_ENTRIES_MAX = 10_000

/**
 * A progress message dated more than this ahead of the receiver's clock is refused: devices'
 * clocks drift, and the messages of one that runs far ahead would hide all its later ones.
 */
export const PROGRESS_FUTURE_MS_MAX = 60_000

/**
 * A progress message older than this is refused: gossip delivers in seconds, so an older one is
 * a replay, and a table fed replays would show a device's past as its present.
 */
export const PROGRESS_AGE_MS_MAX = 10 * 60_000

/**
 * Releases `/metrics` gives rollout gauges for (`fwmesh_rollout_devices`), newest first, among
 * those installable and not installed by every eligible device: each costs an audit read per
 * scrape, and a dashboard follows the few rollouts under way, not the history.
 */
export const ROLLOUT_METRICS_RELEASES_MAX = 4

/** `fwmesh rollout status --watch` and `release rollout --wait` ask the node again after this. */
export const ROLLOUT_WATCH_POLL_MS = 1_000
