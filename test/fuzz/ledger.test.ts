import { decodeBlock } from '../../src/ledger/block.js'
import { decodeCertificate } from '../../src/ledger/certificate.js'
import { TABLE_NAMES } from '../../src/ledger/state.js'
import { decodeHead, decodeStateRecord } from '../../src/ledger/state-records.js'
import { decodeTx } from '../../src/ledger/tx.js'
import { blocks, certificates, headRecord, stateRecords, txs } from './corpus.js'
import { decodeResultVerdict, fuzz, type Verdict } from './harness.js'

// Ledger records from peers (inside blocks and gossip) and from the store on disk.

fuzz({
  name: 'blocks',
  corpus: blocks.map((b) => b.block.bytes),
  run: (input) => decodeBlock(input),
  verdict: (r) => decodeResultVerdict(r),
})

fuzz({
  name: 'transactions',
  corpus: txs.map((tx) => tx.bytes),
  run: (input) => decodeTx(input),
  verdict: (r) => decodeResultVerdict(r),
})

fuzz({
  name: 'certificates',
  corpus: certificates,
  run: (input) => decodeCertificate(input),
  verdict: (r) => decodeResultVerdict(r),
})

// A record is tried against every table and as the head record: each attempt must end in a
// value or a typed rejection, and the record counts as accepted when one of them takes it.
fuzz({
  name: 'state records',
  corpus: [...stateRecords.map((r) => r.bytes), headRecord],
  run: (input) => [...TABLE_NAMES.map((table) => decodeStateRecord(table, input)), decodeHead(input)],
  verdict: (results): Verdict => {
    let rejected: Verdict | undefined
    for (const r of results) {
      const v = decodeResultVerdict(r)
      if ('wrong' in v || 'accepted' in v) return v
      rejected ??= v
    }
    return rejected!
  },
})
