/**
 * The device agent (DESIGN.md §6): the policy that decides when a device fetches, verifies,
 * installs and reports a firmware release. It reads the ledger through a narrow view, picks
 * the newest release it may install (approved, not revoked, its product, channel and
 * hardware, newer than what it runs, at least the min-from version, its rollout wave open),
 * asks the driver to fetch and hash the image, runs the install hook inside the local
 * maintenance window, and has the outcome reported to the ledger, signed by the device.
 * `DeviceAgent` is a sans-IO state machine: inputs through `handle*` methods with the
 * current time, commands out through `poll()`, and a small persisted state (`persist`
 * outputs, versioned DAG-CBOR) so a restart in any phase resumes. The node drives it with
 * real downloads and the hook runner of src/node/install-hook.ts; the simulator drives the
 * same object for thousands of devices.
 */
export * from './agent.js'
export * from './detail.js'
export * from './disk-space.js'
export * from './eligibility.js'
export * from './install-outcome.js'
export * from './ledger-view.js'
export * from './progress.js'
export * from './rollout.js'
export * from './rollout-view.js'
export * from './state.js'
export * from './window.js'
