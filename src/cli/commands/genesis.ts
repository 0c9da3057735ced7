import { readFile, writeFile } from 'node:fs/promises'
import type { Command } from 'commander'
import { genesisId, genesisToJson, parseGenesis } from '../../ledger/genesis.js'
import { systemClock } from '../../node/clock.js'
import { parsePublicKeyArg } from '../keys.js'
import { CliError, type Output } from '../output.js'

function collect(value: string, previous: string[]): string[] {
  return [...previous, value]
}

export function registerGenesis(program: Command, output: () => Output): void {
  const genesis = program
    .command('genesis')
    .description('create or inspect the genesis file, the trust anchor of a chain')
  genesis
    .command('init')
    .description('write a new genesis file')
    .requiredOption('--chain-id <id>', 'the chain id (lower-case letters, digits, dashes)')
    .requiredOption(
      '--validator <name=key>',
      'a validator: name=<did:key | hex | key file> (repeat; order matters)',
      collect,
      [],
    )
    .requiredOption('--admin <key>', 'an admin: <did:key | hex | key file> (repeat)', collect, [])
    .option('--threshold <n>', 'approvals a release needs before devices install it', '2')
    .option('--param <name=value>', 'a chain parameter, e.g. blockIntervalMs=500 (repeat)', collect, [])
    .option('--time <ms>', 'genesis time in ms since the epoch (default: now)')
    .requiredOption('-o, --out <file>', 'where to write genesis.json')
    .action(
      async (o: {
        chainId: string
        validator: string[]
        admin: string[]
        threshold: string
        param: string[]
        time?: string
        out: string
      }) => {
        const validators = []
        for (const v of o.validator) {
          const eq = v.indexOf('=')
          if (eq <= 0) throw new CliError(`--validator "${v}" must be name=key`)
          validators.push({
            name: v.slice(0, eq),
            publicKey: Buffer.from(
              await parsePublicKeyArg(v.slice(eq + 1), `--validator ${v.slice(0, eq)}`),
            ).toString('hex'),
          })
        }
        const admins = []
        for (const a of o.admin)
          admins.push(Buffer.from(await parsePublicKeyArg(a, '--admin')).toString('hex'))
        const params: Record<string, number> = {}
        for (const p of o.param) {
          const [name, value] = p.split('=')
          if (!name || value === undefined || !/^\d+$/.test(value))
            throw new CliError(`--param "${p}" must be name=<whole number>`)
          params[name] = Number(value)
        }
        const doc = {
          chainId: o.chainId,
          time: o.time === undefined ? systemClock.now() : Number(o.time),
          validators,
          admins,
          approvalThreshold: Number(o.threshold),
          params,
        }
        const parsed = parseGenesis(JSON.stringify(doc))
        if (!parsed.ok) throw new CliError(`invalid genesis: ${parsed.error.message}`)
        try {
          await writeFile(o.out, genesisToJson(parsed.value), { flag: 'wx' })
        } catch (cause) {
          const code = (cause as NodeJS.ErrnoException).code
          throw new CliError(
            code === 'EEXIST'
              ? `${o.out} already exists; refusing to overwrite a genesis file`
              : `cannot write ${o.out}: ${(cause as Error).message}`,
          )
        }
        const id = genesisId(parsed.value).toString()
        output().result(
          { chainId: o.chainId, genesisId: id, file: o.out, validators: validators.length },
          () => `genesis ${id} for chain ${o.chainId} written to ${o.out}`,
        )
      },
    )
  genesis
    .command('show')
    .description('validate a genesis file and print its id')
    .argument('<file>', 'genesis.json')
    .action(async (file: string) => {
      const parsed = parseGenesis(await readText(file))
      if (!parsed.ok) throw new CliError(`${file}: ${parsed.error.message}`)
      const g = parsed.value
      output().result(
        {
          chainId: g.chainId,
          genesisId: genesisId(g).toString(),
          validators: g.validators.map((v) => v.name),
          approvalThreshold: g.approvalThreshold,
          params: g.params,
        },
        () =>
          `chain ${g.chainId}, genesis ${genesisId(g)}\nvalidators: ${g.validators.map((v) => v.name).join(', ')}\napprovals needed: ${g.approvalThreshold}`,
      )
    })
}

export async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8')
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code
    throw new CliError(
      code === 'ENOENT'
        ? `no such file: ${file}`
        : code === 'EACCES'
          ? `permission denied: ${file}`
          : `cannot read ${file}: ${(cause as Error).message}`,
    )
  }
}
