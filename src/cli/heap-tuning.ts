/**
 * Sets V8 heap options for this process, on import: `main.ts` imports it before anything else,
 * so the settings hold before libp2p and the rest load (the young generation grows during
 * loading and never shrinks back). Why and what was measured: V8_SEMI_SPACE_GROWTH_FACTOR and
 * V8_MAX_OPT_TIER in constants.ts. A shebang cannot pass V8 options portably, and NODE_OPTIONS does not accept
 * these two; `v8.setFlagsFromString` does, as long as it runs first.
 */
import { setFlagsFromString } from 'node:v8'
import {
  V8_CONCURRENT_ARRAY_BUFFER_SWEEPING,
  V8_MAX_OPT_TIER,
  V8_SEMI_SPACE_GROWTH_FACTOR,
} from '../constants.js'

/** The V8 flags `fwmesh` runs with. */
export const HEAP_FLAGS: readonly string[] = [
  `--semi-space-growth-factor=${V8_SEMI_SPACE_GROWTH_FACTOR}`,
  V8_CONCURRENT_ARRAY_BUFFER_SWEEPING
    ? '--concurrent-array-buffer-sweeping'
    : '--no-concurrent-array-buffer-sweeping',
  // No Turbofan: constants.ts V8_MAX_OPT_TIER says what it saves and what it costs.
  `--max-opt=${V8_MAX_OPT_TIER}`,
]

for (const flag of HEAP_FLAGS) setFlagsFromString(flag)
