import { CONFIG_FIELDS, type ConfigField } from '../node/config-fields.js'

/** The roles an operator sets a node up for; an origin is a follower that publishes and seeds. */
export const EXAMPLE_ROLES = ['validator', 'origin', 'device'] as const
export type ExampleRole = (typeof EXAMPLE_ROLES)[number]

/** Where a node of each role keeps its state unless told otherwise (systemd's StateDirectory). */
export const EXAMPLE_DATA_DIR = '/var/lib/fwmesh'

/**
 * The values an example sets (as TOML), by field; every other field is printed commented out
 * with its default. What each role needs to start, and nothing it does not.
 */
function valuesFor(role: ExampleRole, dataDir: string, genesis?: string): ReadonlyMap<string, string> {
  const values = new Map<string, string>([
    ['data_dir', JSON.stringify(dataDir)],
    ...(genesis ? ([['genesis', JSON.stringify(genesis)]] as const) : []),
    ['role', JSON.stringify(role === 'validator' ? 'validator' : 'follower')],
    ['network.listen', '["/ip4/0.0.0.0/tcp/4001"]'],
    ['network.bootstrap', '[]'],
  ])
  if (role === 'device') {
    values.set('device.product', '"gateway"')
    values.set('device.hardware', '"rev-a"')
    values.set('device.install_command', '["/usr/lib/fwmesh/hooks/script.sh"]')
    // Where the hook above writes the version: script.sh installs into FWMESH_INSTALL_DIR,
    // /var/lib/fwmesh/installed unless install_env says otherwise. A version file the hook does
    // not write would make a restarted device believe it runs initial_version again.
    values.set('device.version_file', JSON.stringify(`${dataDir}/installed/version`))
  }
  return values
}

/** What the example says first about each role. */
const ROLE_NOTES: Readonly<Record<ExampleRole, string[]>> = {
  validator: [
    'A validator: its key (data_dir/node.key, or `key`) must be one of the genesis validators.',
    'Give network.bootstrap the address of at least one other validator; it finds the rest.',
  ],
  origin: [
    'An origin: a follower that `fwmesh release publish` talks to; it seeds each image it',
    'publishes once the release commits. Give network.bootstrap a validator address.',
  ],
  device: [
    'A device: a follower that installs releases for its product and hardware with',
    'install_command. Register its key first (`fwmesh device register`), and give',
    'network.bootstrap one address of the mesh; it finds its neighbours from there.',
  ],
}

/**
 * A commented TOML configuration for `role` that `fwmesh node --config` starts with as it is
 * (once the genesis file is at data_dir/genesis.json): every field of the reference table,
 * each with its meaning, range and default, set where the role needs it.
 */
export function configExample(role: ExampleRole, dataDir = EXAMPLE_DATA_DIR, genesis?: string): string {
  const values = valuesFor(role, dataDir, genesis)
  const lines = [
    `# fwmesh node configuration: ${role}`,
    ...ROLE_NOTES[role].map((l) => `# ${l}`),
    '# Every field, its range and default: docs/config.md; check a file with',
    '# `fwmesh config check FILE`. FWMESH_* environment variables override the file.',
  ]
  let section: string | undefined
  // Only a device has a [device] section: a node with one installs releases.
  const fields = CONFIG_FIELDS.filter((f) => role === 'device' || !f.key.startsWith('device.'))
  for (const field of fields) {
    const [head, tail] = field.key.includes('.') ? field.key.split('.') : [undefined, field.key]
    const name = tail!
    if (head !== section) {
      section = head
      lines.push('', `[${head}]`)
    } else lines.push('')
    lines.push(...comment(field))
    const value = values.get(field.key)
    const fallback = defaultAsToml(field, dataDir)
    if (value !== undefined) lines.push(`${name} = ${value}`)
    else if (fallback !== undefined) lines.push(`# ${name} = ${fallback}`)
  }
  return `${lines.join('\n')}\n`
}

function comment(field: ConfigField): string[] {
  const env = field.env ? `; env ${field.env}` : ''
  return [`# ${field.meaning}`, `# ${field.range}; default ${field.default}${env}`]
}

/**
 * The default as a TOML value to uncomment, where it is one ("127.0.0.1:7070", 128, "15m",
 * data_dir's files); undefined where the default is a rule ("none", "three heartbeat intervals").
 */
function defaultAsToml(field: ConfigField, dataDir: string): string | undefined {
  const d = field.default.replace('<data_dir>', dataDir)
  if (/^(\[.*\]|\{.*\}|true|false|\d+)$/.test(d)) return d
  const leadingCount = /^(\d+) \(/.exec(d)
  if (leadingCount) return leadingCount[1]
  if (d === 'none' || d.startsWith('required') || !/^[\w.:/@-]+$/.test(d)) return undefined
  return JSON.stringify(d)
}
