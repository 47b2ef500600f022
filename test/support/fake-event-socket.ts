import net from "node:net";

/**
 * A local TCP server speaking FreeSWITCH's inbound event-socket protocol, enough for `auth` and
 * `api <cmd>`: auth/request on connect, command/reply +OK/-ERR to auth, api/response with
 * Content-Length to api, disconnect notice on bad auth or exit. Replies can be split into chunks
 * to exercise the client's framing.
 */
export interface FakeEslOptions {
  password: string;
  /** api command -> body */
  api: Record<string, string>;
  /** write every frame in pieces of this many bytes (framing test) */
  chunkBytes?: number;
}

export interface FakeEsl {
  port: number;
  /** every line the server received (to assert what the client sent) */
  received: string[];
  close(): Promise<void>;
}

export async function startFakeEsl(o: FakeEslOptions): Promise<FakeEsl> {
  const received: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    sock.on("error", () => undefined);
    const write = (text: string): void => {
      const buf = Buffer.from(text);
      const n = o.chunkBytes ?? buf.length;
      for (let i = 0; i < buf.length; i += n) sock.write(buf.subarray(i, i + n));
    };
    let authed = false;
    let pending = "";
    write("Content-Type: auth/request\n\n");
    sock.on("data", (d: Buffer) => {
      pending += d.toString("utf8");
      let end: number;
      while ((end = pending.indexOf("\n\n")) >= 0) {
        const cmd = pending.slice(0, end).trim();
        pending = pending.slice(end + 2);
        received.push(cmd);
        if (cmd.startsWith("auth ")) {
          if (cmd.slice(5) === o.password) {
            authed = true;
            write("Content-Type: command/reply\nReply-Text: +OK accepted\n\n");
          } else {
            write("Content-Type: command/reply\nReply-Text: -ERR invalid\n\n");
            const bye = "Disconnected, goodbye.\n";
            write(`Content-Type: text/disconnect-notice\nContent-Length: ${Buffer.byteLength(bye)}\n\n${bye}`);
            sock.end();
          }
        } else if (cmd === "exit") {
          write("Content-Type: command/reply\nReply-Text: +OK bye\n\n");
          sock.end();
        } else if (cmd.startsWith("api ") && authed) {
          const body = o.api[cmd.slice(4)] ?? `-ERR ${cmd.slice(4)} Command not found!\n`;
          write(`Content-Type: api/response\nContent-Length: ${Buffer.byteLength(body)}\n\n${body}`);
        } else {
          write("Content-Type: command/reply\nReply-Text: -ERR command not found\n\n");
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  if (addr === null || typeof addr === "string") throw new Error("fake ESL: no port");
  return {
    port: addr.port,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
