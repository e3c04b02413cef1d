// Node peer for bench/fanout: socket.io 4.8 doing what the broker does for
// this benchmark. Every client joins room "notifications" on connect; a POST
// to /test/publish {"topic":"notification.created","payload"} broadcasts the
// payload as "new_notification" to that room (the same trigger as busbridge).
//   node bench/peers/server.js PORT
const http = require("node:http");
const { Server } = require("socket.io");

const port = Number(process.argv[2] || 3000);
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
io.on("connection", (socket) => {
  socket.join("notifications");
  // like the broker, which sends recent_notifications on connect
  socket.emit("recent_notifications", { notifications: [], unread_count: 0 });
});
httpServer.listen(port, "127.0.0.1", () => console.log(`socket.io peer on ${port}`));
