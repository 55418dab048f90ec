// Starts the S3-compatible test server (npm @20minutes/s3rver, which has no bin entry) through
// its CLI module. Run under `node --openssl-legacy-provider`; arguments are s3rver's own
// (-d DIR -a 127.0.0.1 -p 0 --configure-bucket NAME ...). scripts/s3-server wraps it.
'use strict'
const path = require('node:path')
const cli = require(path.join(__dirname, '..', 'deps', 'node_modules', '@20minutes', 's3rver', 'lib', 'cli.js'))
// With LH_S3_OWNER_PID set, the server exits once that process is gone, so a test that dies
// without stopping it leaves nothing behind.
const owner = Number(process.env.LH_S3_OWNER_PID || 0)
if (owner > 0) {
  setInterval(() => {
    try {
      process.kill(owner, 0)
    } catch {
      process.exit(0)
    }
  }, 500).unref()
}
cli.parseAsync(process.argv).catch((e) => {
  console.error(`s3rver: ${e.message}`)
  process.exit(1)
})
