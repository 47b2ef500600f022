import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import { startFakeEsl } from "../../test/support/fake-event-socket.js";
import { EslFrameParser, eslApi, EventSocketError } from "./event-socket.js";

const VERSION = "FreeSWITCH Version 1.10.12-release~64bit (-release 64bit)\n";

test("auth/request -> auth -> command/reply -> api version -> api/response", async () => {
  const esl = await startFakeEsl({ password: "s3cret-pw", api: { version: VERSION } });
  try {
    const body = await eslApi({ host: "127.0.0.1", port: esl.port }, "s3cret-pw", "version");
    assert.equal(body, VERSION);
    assert.deepEqual(esl.received.slice(0, 2), ["auth s3cret-pw", "api version"]);
  } finally {
    await esl.close();
  }
});

test("frames split into 3-byte chunks are reassembled (Content-Length framing)", async () => {
  const esl = await startFakeEsl({ password: "pw", api: { version: VERSION }, chunkBytes: 3 });
  try {
    assert.equal(await eslApi({ host: "127.0.0.1", port: esl.port }, "pw", "version"), VERSION);
  } finally {
    await esl.close();
  }
});

test("wrong password: auth-failed, and the message does not contain the password", async () => {
  const esl = await startFakeEsl({ password: "right", api: { version: VERSION } });
  try {
    await assert.rejects(eslApi({ host: "127.0.0.1", port: esl.port }, "wrong-secret", "version"), (err: unknown) => {
      assert.ok(err instanceof EventSocketError);
      assert.equal(err.kind, "auth-failed");
      assert.ok(!err.message.includes("wrong-secret"), err.message);
      return true;
    });
  } finally {
    await esl.close();
  }
});

test("unknown api command: -ERR body is a protocol error", async () => {
  const esl = await startFakeEsl({ password: "pw", api: {} });
  try {
    await assert.rejects(eslApi({ host: "127.0.0.1", port: esl.port }, "pw", "version"), /Command not found/);
  } finally {
    await esl.close();
  }
});

test("nothing listening: unreachable", async () => {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  await assert.rejects(eslApi({ host: "127.0.0.1", port }, "pw", "version"), (err: unknown) => {
    assert.ok(err instanceof EventSocketError);
    assert.equal(err.kind, "unreachable");
    return true;
  });
});

test("a server that never speaks: timeout", async () => {
  const held: net.Socket[] = [];
  const srv = net.createServer((s) => held.push(s));
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as net.AddressInfo).port;
  try {
    await assert.rejects(eslApi({ host: "127.0.0.1", port }, "pw", "version", 200), (err: unknown) => {
      assert.ok(err instanceof EventSocketError);
      assert.equal(err.kind, "timeout");
      return true;
    });
  } finally {
    for (const s of held) s.destroy();
    await new Promise<void>((r) => srv.close(() => r()));
  }
});

test("frame parser: headers, Content-Length body, two frames in one chunk, URL-encoded values", () => {
  const p = new EslFrameParser();
  const frames = p.push(
    Buffer.from(
      "Content-Type: command/reply\nReply-Text: %2BOK%20accepted\n\nContent-Type: api/response\nContent-Length: 5\n\nab",
    ),
  );
  assert.equal(frames.length, 1);
  assert.equal(frames[0]!.headers.get("reply-text"), "+OK accepted");
  const rest = p.push(Buffer.from("cde"));
  assert.equal(rest.length, 1);
  assert.equal(rest[0]!.body, "abcde");
});

test("a password with a newline is refused before connecting (no command injection)", async () => {
  await assert.rejects(eslApi({ host: "127.0.0.1", port: 1 }, "pw\n\napi shutdown", "version"), /single lines/);
});
