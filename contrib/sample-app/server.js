// berth sample app: a dependency-free HTTP server.
// GET / greets with the release and commit berth sets; GET /health returns "ok".
'use strict';
const http = require('http');

const port = Number(process.env.PORT) || 5000;
const greeting = process.env.GREETING || 'Hello';
const release = process.env.BERTH_RELEASE || 'unknown';
const commit = (process.env.SOURCE_VERSION || '').slice(0, 7) || 'unknown';

const server = http.createServer((req, res) => {
  let status = 200;
  let body;
  if (req.method === 'GET' && req.url === '/') {
    body = `Hello from berth! ${greeting} — release ${release}, commit ${commit}\n`;
  } else if (req.method === 'GET' && req.url === '/health') {
    body = 'ok\n';
  } else {
    status = 404;
    body = 'not found\n';
  }
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(body);
  console.log(`${req.method} ${req.url} ${status}`);
});

server.listen(port, () => console.log(`listening on port ${port}`));

process.on('SIGTERM', () => {
  console.log('SIGTERM received, shutting down');
  server.close(() => process.exit(0));
  if (server.closeAllConnections) server.closeAllConnections();
});
