/**
 * Deterministic simulation (STYLE.md §7): one discrete-event engine (`engine.ts`, over the
 * typed-array queue of `event-queue.ts`) with a virtual clock, a
 * network model (per-link latency, jitter, loss, duplication, reordering, partitions that
 * heal) and drivers that run the very same sans-IO cores as the node. A run is a pure
 * function of its seed: `npm run sim -- consensus --seed N --trace` replays one exactly.
 * `consensus/` drives validator replicas and followers with byzantine behaviours, crashes and
 * restarts, and checks safety after every event and liveness once faults heal.
 * `fleet/` runs thousands of devices, an origin and a committee on the real agent, transfer and
 * consensus cores (`npm run sim -- rollout`); `scenarios/` names its scenarios and exposes
 * `runFleetScenario`, the function the CLI and the fidelity comparison call.
 */
export * from './consensus/byzantine.js'
export * from './consensus/checker.js'
export * from './consensus/cluster.js'
export * from './consensus/run.js'
export * from './consensus/scenario.js'
export * from './consensus/seeds.js'
export * from './engine.js'
export { type FleetOptions, type FleetResult, runFleet } from './fleet/fleet.js'
export * from './network.js'
export {
  type FleetScenarioOptions,
  type FleetScenarioResult,
  type RolloutSummary,
  runFleetScenario,
  SCENARIOS as FLEET_SCENARIOS,
} from './scenarios/index.js'
export * from './virtual-timer.js'
