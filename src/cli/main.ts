#!/usr/bin/env node
/**
 * The `fwmesh` binary. It sets the process's V8 heap options (heap-tuning.ts) before anything
 * else is even parsed: static imports are all loaded before the first module runs, and loading
 * libp2p grows V8's young generation to 16 MiB, which it never gives back. So the program
 * itself (program.ts) comes in by a dynamic import, after the tuning.
 */
import '../polyfills.js'
import './heap-tuning.js'

const { main } = await import('./program.js')
process.exitCode = await main(process.argv)
