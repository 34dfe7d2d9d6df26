// The ACME client in the plan (infra/deploy/acme.ts, infra/deploy/plan.ts): its loop is valid POSIX sh for
// the shells that run it, its environment holds no secret, and with `https` the plan has the acme container
// and nginx on 443 with the certificate read-only; without it, the plan is the one before HTTPS.
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
    ACME_CA_FILE,
    ACME_DIR,
    acmeEnvironment,
    acmeScript,
    NGINX_ACME_ROOT,
    NGINX_CERT_DIR,
    NGINX_WORKER_GID,
} from "../../../infra/deploy/acme";
import { planDeployment, SLOTS, type HttpsSettings, type PlanInput } from "../../../infra/deploy/plan";
import { renderNginxConfig } from "../../../infra/deploy/nginx";
import { all, one, parseNginx, type Directive } from "../../support/nginx/parse";
import { leaves } from "../../support/program";

/** Target aws's settings and an app's (as test/infra/deploy/plan.test.ts). */
const INPUT: PlanInput = {
    platform: "linux/arm64",
    mysqlStorage: { hostPath: "/opt/data/mysql" },
    routeStorage: { hostPath: "/opt/data/berth/route" },
    dumpStorage: { hostPath: "/opt/data/berth/dumps" },
    publish: { port: 80 },
    stack: "Dev",
    appVersion: 7,
    appDir: "./app",
    appPort: 3000,
    healthPath: "/up",
    healthTimeout: 120,
    stopGraceSeconds: 30,
    migrateTimeout: 1800,
    keepImages: 3,
    createCommand: ["npm", "run", "db:create"],
    migrateCommand: ["npm", "run", "db:migrate"],
    appEnv: { RAILS_ENV: "production" },
    mysqlImage: "mysql:8.4",
    nginxImage: "nginx:1.30.0-alpine",
    mysqlUser: "app",
    mysqlDatabase: "app",
    maxBodySize: 65536,
    clientTimeout: 20,
    connLimitPerClient: 80,
    rateLimitPerClient: 400,
    contextDigest: "0123456789abcdef0123456789abcdef",
};

const ACME_HOST_DIR = "/opt/data/berth/acme";

/** What target aws passes with berth:domain (infra/targets/aws.ts). */
const HTTPS: HttpsSettings = {
    domains: ["app.example.com", "www.example.com"],
    email: "ops@example.com",
    server: "https://acme-v02.api.letsencrypt.org/directory",
    hstsSeconds: 31536000,
    acmeImage: "goacme/lego:v4.35.2",
    storage: { hostPath: ACME_HOST_DIR },
    port: 443,
};

const CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBprivateCA\n-----END CERTIFICATE-----\n";

/** The options plan.ts gives renderNginxConfig for INPUT, without TLS. */
const NGINX_OPTIONS = {
    slots: SLOTS,
    appPort: 3000,
    routeDir: "/etc/nginx/berth-route",
    probePort: 8081,
    clientMaxBodySize: "64k",
    clientTimeout: "20s",
    connLimitPerClient: 80,
    rateLimitPerClient: 400,
};

/** `sh -n` (parse only, run nothing) of the script with `shell`; null when the shell is not installed. */
function parseOnly(shell: string[], script: string): { status: number | null; stderr: string } | null {
    const [cmd = "", ...pre] = shell;
    const r = spawnSync(cmd, [...pre, "-n", "-c", script], { encoding: "utf8", timeout: 10_000 });
    if (r.error && (r.error as NodeJS.ErrnoException).code === "ENOENT") return null;
    return { status: r.status, stderr: r.stderr };
}

describe("acmeScript", () => {
    const script = acmeScript();

    it("parses with dash (Debian's /bin/sh, POSIX sh)", () => {
        const r = parseOnly(["dash"], script);
        assert.ok(r, "dash must be installed to run this test");
        assert.equal(r.stderr, "");
        assert.equal(r.status, 0);
    });

    it("parses with busybox sh (the lego image's /bin/sh)", () => {
        const r = parseOnly(["busybox", "sh"], script);
        // In CI's packages (.ci/run): a missing busybox fails rather than skips.
        assert.ok(r, "busybox must be installed (apt-get install busybox)");
        assert.equal(r.stderr, "");
        assert.equal(r.status, 0);
    });

    it("is refused by sh -n when broken, so the checks above can fail", () => {
        const r = parseOnly(["dash"], `${script}\nif true; then`);
        assert.ok(r);
        assert.notEqual(r.status, 0);
    });

    it("reads its settings from the environment only: no name, address or URL written into it", () => {
        for (const value of [...HTTPS.domains, HTTPS.email, HTTPS.server, "letsencrypt"]) assert.ok(!script.includes(value), value);
        assert.ok(script.includes(ACME_DIR), "the storage's mount point in the container");
    });
});

describe("acmeEnvironment", () => {
    const plain = acmeEnvironment({ domains: HTTPS.domains, email: HTTPS.email, server: HTTPS.server });
    const withCa = acmeEnvironment({ domains: HTTPS.domains, email: HTTPS.email, server: HTTPS.server, caCertificate: CA_PEM });

    it("is the names, the contact, the directory and the loop's timings, sorted", () => {
        assert.deepEqual(plain, [
            "ACME_DOMAINS=app.example.com www.example.com",
            "ACME_EMAIL=ops@example.com",
            "ACME_SERVER=https://acme-v02.api.letsencrypt.org/directory",
            `CERT_GID=${NGINX_WORKER_GID}`,
            "CHECK_SECONDS=43200",
            "RENEW_DAYS=30",
            "RETRY_MAX_SECONDS=3600",
            "RETRY_SECONDS=20",
        ]);
    });

    it("holds nothing that resembles a secret: no key, password, token or PEM", () => {
        for (const env of [plain, withCa]) {
            for (const entry of env) {
                const [name = "", ...rest] = entry.split("=");
                const value = rest.join("=");
                assert.doesNotMatch(name, /KEY|SECRET|PASSWORD|PASS|TOKEN|HMAC|EAB|CREDENTIAL/i, entry);
                assert.doesNotMatch(value, /-----BEGIN|PRIVATE|\n/, entry);
            }
        }
    });

    it("lists LEGO_CA_CERTIFICATES, a path to the uploaded file, only with a CA", () => {
        assert.ok(!plain.some((e) => e.startsWith("LEGO_CA_CERTIFICATES=")));
        assert.deepEqual(
            withCa.filter((e) => !plain.includes(e)),
            [`LEGO_CA_CERTIFICATES=${ACME_CA_FILE}`],
        );
    });
});

describe("planDeployment with https", () => {
    const plan = planDeployment({ ...INPUT, https: HTTPS });
    const before = planDeployment(INPUT);
    const acme = plan.containers.acme;

    it("runs the ACME client: the loop as /bin/sh -c, restarted unless stopped, replaced delete-first", () => {
        assert.ok(acme, "an acme container");
        assert.equal(acme.image, "acme");
        assert.deepEqual(acme.entrypoint, ["/bin/sh", "-c", acmeScript()]);
        assert.equal(acme.command, undefined, "nothing after the script: the image's CMD is not used");
        assert.equal(acme.restart, "unless-stopped");
        assert.equal(acme.replace.deleteBeforeReplace, true);
        assert.equal(acme.oneShot, false);
        assert.equal(acme.env, "none");
        assert.deepEqual(acme.plainEnv, acmeEnvironment({ domains: HTTPS.domains, email: HTTPS.email, server: HTTPS.server }));
        assert.deepEqual(acme.ports, [], "publishes nothing: nginx serves its challenge files");
        assert.deepEqual(acme.uploads, [], "no CA file without a CA");
    });

    it("uploads the private CA and points lego at it when one is given", () => {
        const withCa = planDeployment({ ...INPUT, https: { ...HTTPS, caCertificate: CA_PEM } }).containers.acme;
        assert.deepEqual(withCa?.uploads, [{ file: ACME_CA_FILE, content: CA_PEM }]);
        assert.ok(withCa?.plainEnv?.includes(`LEGO_CA_CERTIFICATES=${ACME_CA_FILE}`));
    });

    it("mounts the ACME storage writable in the acme container only; nginx gets the webroot and live dirs read-only", () => {
        assert.deepEqual(acme?.volumes, [{ hostPath: ACME_HOST_DIR, containerPath: ACME_DIR }]);
        for (const [role, c] of Object.entries(plan.containers)) {
            for (const m of c.volumes) {
                if (!("hostPath" in m) || !m.hostPath.startsWith(ACME_HOST_DIR)) continue;
                if (role === "acme") continue;
                assert.equal(role, "nginx", `${role} mounts ${m.hostPath}`);
                assert.equal(m.readOnly, true, `${role} mounts ${m.hostPath} read-only`);
            }
        }
        assert.deepEqual(plan.containers.nginx.volumes, [
            { hostPath: "/opt/data/berth/route", containerPath: "/etc/nginx/berth-route" },
            { hostPath: `${ACME_HOST_DIR}/webroot`, containerPath: NGINX_ACME_ROOT, readOnly: true },
            { hostPath: `${ACME_HOST_DIR}/live`, containerPath: NGINX_CERT_DIR, readOnly: true },
        ]);
        const trailing = planDeployment({ ...INPUT, https: { ...HTTPS, storage: { hostPath: `${ACME_HOST_DIR}/` } } });
        assert.deepEqual(trailing.containers.nginx.volumes, plan.containers.nginx.volumes, "a trailing slash makes no double one");
    });

    it("publishes 80 and 443 on nginx", () => {
        assert.deepEqual(plan.containers.nginx.ports, [
            { internal: 80, external: 80 },
            { internal: 443, external: 443 },
        ]);
        const bound = planDeployment({ ...INPUT, publish: { port: 8080, ip: "127.0.0.1" }, https: { ...HTTPS, port: 8443 } });
        assert.deepEqual(bound.containers.nginx.ports, [
            { internal: 80, external: 8080, ip: "127.0.0.1" },
            { internal: 443, external: 8443, ip: "127.0.0.1" },
        ]);
    });

    it("renders nginx's config with HTTPS on 443, the challenge location, and the certificate named by the variable", () => {
        const text = plan.containers.nginx.uploads[0]?.content ?? "";
        assert.equal(plan.containers.nginx.uploads[0]?.file, "/etc/nginx/conf.d/default.conf");
        assert.match(text, /^\s*listen 443 ssl default_server;$/m);
        assert.match(text, /^\s*listen \[::\]:443 ssl default_server;$/m);
        assert.match(text, /^\s*location \/\.well-known\/acme-challenge\/ \{$/m);
        assert.match(text, /^\s*ssl_certificate \$berth_tls_dir\/fullchain\.pem;$/m);
        assert.match(text, /^\s*ssl_certificate_key \$berth_tls_dir\/privkey\.pem;$/m);
        assert.match(text, /^\s*add_header Strict-Transport-Security max-age=31536000 always;$/m);
        const top = parseNginx(text);
        const map = one(top, "map");
        assert.deepEqual(map.args, ["", "$berth_tls_dir"]);
        assert.deepEqual(
            one(map.block ?? [], "default").args,
            [NGINX_CERT_DIR],
            "nginx reads the certificate where the live dir is mounted",
        );
        const challenge = all(top, "server")
            .flatMap((s) => all(s.block ?? [], "location"))
            .find((l: Directive) => l.args[0] === "/.well-known/acme-challenge/");
        assert.deepEqual(one(challenge?.block ?? [], "alias").args, [`${NGINX_ACME_ROOT}/.well-known/acme-challenge/`]);
    });

    it("changes no other container, and nginx's reason to be replaced delete-first stays", () => {
        for (const role of ["mysql", "dbCreate", "migrate", "dump", "app"] as const) {
            assert.deepEqual(plan.containers[role], before.containers[role], role);
        }
        assert.deepEqual(plan.containers.nginx.replace, before.containers.nginx.replace);
        assert.deepEqual(plan.cutover, before.cutover);
        assert.deepEqual(plan.volumes, before.volumes);
    });

    it("puts no value resembling a secret anywhere in the acme container", () => {
        assert.doesNotMatch(leaves(acme).join("\n"), /PRIVATE KEY|password/i);
    });
});

describe("planDeployment without https", () => {
    const plan = planDeployment(INPUT);

    it("has no acme container, publishes 80 only, and mounts nothing of ACME", () => {
        assert.equal(plan.containers.acme, undefined);
        assert.ok(!("acme" in plan.containers));
        assert.deepEqual(plan.containers.nginx.ports, [{ internal: 80, external: 80 }]);
        assert.deepEqual(plan.containers.nginx.volumes, [{ hostPath: "/opt/data/berth/route", containerPath: "/etc/nginx/berth-route" }]);
        assert.ok(!leaves(plan).some((l) => l.includes(ACME_HOST_DIR) || l.includes(NGINX_CERT_DIR)));
    });

    it("renders nginx's config exactly as renderNginxConfig without tls: nothing of 443, the challenge or ssl", () => {
        const text = plan.containers.nginx.uploads[0]?.content ?? "";
        assert.equal(text, renderNginxConfig(NGINX_OPTIONS));
        assert.equal(text, renderNginxConfig({ ...NGINX_OPTIONS, tls: undefined }));
        assert.doesNotMatch(text, /443|ssl|acme-challenge|berth_tls_dir|Strict-Transport-Security/);
    });
});
