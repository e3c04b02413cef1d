// Node peer for bench/cluster: bench/peers/server.js plus socket.io's Redis
// adapter (@socket.io/redis-adapter on the node-redis client), so that a
// broadcast on one process reaches the clients of every process through
// Redis, as Vigía's cluster plugin does for its nodes.
//   node bench/peers/cluster_server.js PORT REDIS_URL
const http = require("node:http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

const port = Number(process.argv[2] || 3000);
const redisUrl = process.argv[3] || "redis://127.0.0.1:6379";

async function main() {
  const pub = createClient({ url: redisUrl });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  const httpServer = http.createServer((req, res) => {
    if (req.method === "POST" && req.url === "/test/publish") {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        let payload;
        try {
          ({ payload } = JSON.parse(body));
        } catch {
          res.writeHead(400).end();
          return;
        }
        io.to("notifications").emit("new_notification", payload);
        res.writeHead(200, { "Content-Type": "application/json" }).end('{"rc":0}');
      });
      return;
    }
    if (req.url === "/api/health") {
      res.writeHead(200, { "Content-Type": "application/json" }).end('{"status":"ok"}');
      return;
    }
    res.writeHead(404).end();
  });
  const io = new Server(httpServer, { serveClient: false, perMessageDeflate: false });
  io.adapter(createAdapter(pub, sub));
  io.on("connection", (socket) => {
    socket.join("notifications");
    socket.emit("recent_notifications", { notifications: [], unread_count: 0 });
  });
  httpServer.listen(port, "127.0.0.1", () => console.log(`socket.io + redis adapter on ${port}`));
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
