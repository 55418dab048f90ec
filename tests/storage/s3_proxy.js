// A fault-injecting HTTP proxy in front of the S3 test server, for the retry and crash tests.
//   node s3_proxy.js TARGET_PORT MODE [N] [PIDFILE]
// MODE: pass          forward everything
//       503-first N   answer the first N requests with 503 SlowDown, then forward
//       503-always    answer every request with 503
//       reset-first N close the connection of the first N requests without an answer
//       kill-at-part PIDFILE   on the first multipart "partNumber=2" request, SIGKILL the
//                     server whose pid is in PIDFILE and drop the connection
// Prints "listening PORT" once ready. Exits when LH_S3_OWNER_PID's process is gone.
'use strict'
const http = require('node:http')
const fs = require('node:fs')
const [target, mode, arg] = [Number(process.argv[2]), process.argv[3], process.argv[4]]
let count = 0
let killed = false

const server = http.createServer((req, res) => {
  count++
  const n = Number(arg || 0)
  if ((mode === '503-first' && count <= n) || mode === '503-always') {
    req.resume()
    res.writeHead(503, { 'Content-Type': 'application/xml' })
    res.end('<?xml version="1.0"?><Error><Code>SlowDown</Code><Message>injected</Message></Error>')
    return
  }
  if (mode === 'reset-first' && count <= n) {
    req.socket.destroy()
    return
  }
  if (mode === 'kill-at-part' && !killed && req.url.includes('partNumber=2')) {
    killed = true
    try {
      process.kill(Number(fs.readFileSync(arg, 'utf8').trim()), 'SIGKILL')
    } catch {}
    req.socket.destroy()
    return
  }
  const up = http.request(
    { host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers },
    (ur) => {
      res.writeHead(ur.statusCode, ur.headers)
      ur.pipe(res)
    }
  )
  up.on('error', () => req.socket.destroy())
  req.pipe(up)
})
server.keepAliveTimeout = 1000
server.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`))

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
