// A stand-in app for the nginx tests: answers every request with its name and the proxy headers it got,
// after DELAY_MS so requests are in flight when it is killed. On SIGTERM it does what the app contract
// asks (ARCHITECTURE.md): stop accepting, finish in-flight requests, exit 0.
// Usage: node --import tsx backend.ts NAME HOST PORT [DELAY_MS]; prints "listening PORT" when ready.
import * as http from "node:http";

const [name, host, port, delay] = process.argv.slice(2);
if (name === undefined || host === undefined || port === undefined) throw new Error("usage: NAME HOST PORT [DELAY_MS]");
const delayMs = Number(delay ?? "10");

const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
        setTimeout(() => {
            const h = req.headers;
            const body = JSON.stringify({
                name,
                host: h.host,
                xForwardedFor: h["x-forwarded-for"],
                xForwardedProto: h["x-forwarded-proto"],
                xRealIp: h["x-real-ip"],
            });
            res.writeHead(200, { "content-type": "application/json" }).end(body);
        }, delayMs);
    });
});

server.on("error", (err) => {
    process.stderr.write(`${name}: ${err.message}\n`);
    process.exit(2);
});
server.listen(Number(port), host, () => {
    const address = server.address();
    process.stdout.write(`listening ${typeof address === "object" && address !== null ? address.port : "?"}\n`);
});

process.on("SIGTERM", () => {
    // close() stops accepting at once and calls back when the last connection has ended (Node >= 19 also
    // closes idle keep-alive connections).
    server.close(() => process.exit(0));
});
