#!/usr/bin/env node
/**
 * The `fwmesh` binary. It sets the process's V8 heap options (heap-tuning.ts) before anything
 * else is even parsed: static imports are all loaded before the first module runs, and loading
 * libp2p grows V8's young generation to 16 MiB, which it never gives back. So the program
 * itself (program.ts) comes in by a dynamic import, after the tuning.
 */
import '../polyfills.js'
import './heap-tuning.js'

// A reader that stops early (`fwmesh release list | head`) closes the pipe: that ends the output,
// it is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (cause: NodeJS.ErrnoException) => {
    if (cause.code !== 'EPIPE') throw cause
    process.exit(process.exitCode ?? 0)
  })
}

const { main } = await import('./program.js')
process.exitCode = await main(process.argv)
