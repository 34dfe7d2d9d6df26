// A minimal authoritative DNS responder over UDP, enough for nginx's resolver: A records for the names
// given, an empty answer for other types of those names, NXDOMAIN for everything else.
// Wire format: RFC 1035 section 4.1 (https://www.rfc-editor.org/rfc/rfc1035#section-4.1).
import * as dgram from "node:dgram";
import { isIPv4 } from "node:net";

export interface DnsServer {
    readonly port: number;
    /** Queries answered so far, as "NAME TYPE" (type number). */
    readonly queries: readonly string[];
    close(): Promise<void>;
}

const TYPE_A = 1;
const CLASS_IN = 1;

/** Starts the responder on 127.0.0.1, an ephemeral port; `records` maps lower-case names to IPv4s. */
export async function startDns(records: Readonly<Record<string, readonly string[]>>): Promise<DnsServer> {
    for (const addrs of Object.values(records)) {
        for (const a of addrs) if (!isIPv4(a)) throw new Error(`dns: not an IPv4 address: ${a}`);
    }
    const socket = dgram.createSocket("udp4");
    const queries: string[] = [];
    socket.on("message", (msg, rinfo) => {
        const reply = answer(msg, records, queries);
        if (reply !== undefined) socket.send(reply, rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve, reject) => {
        socket.once("error", reject);
        socket.bind(0, "127.0.0.1", () => resolve());
    });
    return {
        port: socket.address().port,
        queries,
        close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
    };
}

function answer(msg: Buffer, records: Readonly<Record<string, readonly string[]>>, log: string[]): Buffer | undefined {
    if (msg.length < 12 || msg.readUInt16BE(4) !== 1) return undefined; // exactly one question, or ignore
    const labels: string[] = [];
    let at = 12;
    for (;;) {
        const len = msg[at];
        if (len === undefined || len > 63) return undefined; // truncated, or a compression pointer
        at += 1;
        if (len === 0) break;
        labels.push(msg.toString("latin1", at, at + len));
        at += len;
    }
    if (at + 4 > msg.length) return undefined;
    const qtype = msg.readUInt16BE(at);
    const question = msg.subarray(12, at + 4);
    const name = labels.join(".").toLowerCase();
    log.push(`${name} ${qtype}`);

    const addrs = records[name];
    const found = addrs !== undefined && msg.readUInt16BE(at + 2) === CLASS_IN;
    const rrs = found && qtype === TYPE_A ? addrs : [];
    const header = Buffer.alloc(12);
    header.writeUInt16BE(msg.readUInt16BE(0), 0); // id
    // QR=1, AA=1, RD copied from the query, RA=1; RCODE 3 (NXDOMAIN) for unknown names.
    header.writeUInt16BE(0x8400 | (msg.readUInt16BE(2) & 0x0100) | 0x0080 | (found ? 0 : 3), 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(rrs.length, 6);
    const answers = rrs.map((ip) => {
        const rr = Buffer.alloc(16);
        rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
        rr.writeUInt16BE(TYPE_A, 2);
        rr.writeUInt16BE(CLASS_IN, 4);
        rr.writeUInt32BE(600, 6); // Docker's embedded DNS says 600 s; nginx's `valid=` overrides it
        rr.writeUInt16BE(4, 10);
        ip.split(".").forEach((octet, i) => rr.writeUInt8(Number(octet), 12 + i));
        return rr;
    });
    return Buffer.concat([header, question, ...answers]);
}
