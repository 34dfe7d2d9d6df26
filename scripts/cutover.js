#!/usr/bin/env node
// The health-gated, atomic cutover: moves nginx from the version that serves now to a new app
// container, over the Docker API (mutual TLS to the host, or a unix socket for a local engine).
// Run by Pulumi as a command resource once the new container is healthy; plain Node.js, no
// dependencies, so it runs the same on Linux, macOS and Windows.
//
// How routing works (see infra/deploy/nginx.ts): nginx has two upstream slots, blue and green, each
// a name on the front network (`server NAME:PORT resolve`, re-resolved every second, with upstream
// keep-alive). A marker file in nginx's route directory says which slot is live, and nginx reads it
// per request. Containers join the front network only through this script. So:
//   1. wait until the new container is healthy (a restart after a crash must be healthy again);
//   2. join it to the front network under the idle slot's name (a stale holder of that name is
//      disconnected first: the idle slot serves no request);
//   3. probe it through nginx's own idle-slot upstream from inside the nginx container, until nginx
//      reaches exactly that container and it answers the health path with 200;
//   4. flip the marker: every request from then on goes to the new container, at once;
//   5. wait a short drain, so a request routed just before the flip has reached the old container
//      before Pulumi stops it. The old container keeps its connections: it is never disconnected.
// Any failure before step 4 leaves the old version serving and the new container off the front.
//
// Environment:
//   BERTH_DOCKER_HOST       tcp://IP:2376 (with BERTH_DOCKER_CA/CERT/KEY, PEM text) or unix:///path
//   BERTH_APP_CONTAINER     name of the new app container
//   BERTH_NGINX_CONTAINER   name of the nginx container
//   BERTH_FRONT_NETWORK     name of the front network
//   BERTH_SLOTS             the two slot names, "blue-name,green-name"
//   BERTH_APP_PORT          port the app listens on
//   BERTH_HEALTH_PATH       path answered 200 when the app can serve
//   BERTH_ROUTE_DIR         nginx's route directory; the file `live-<green slot>` there means green is live
//   BERTH_PROBE_PORT        nginx's loopback-only probe listener
//   BERTH_CUTOVER_TIMEOUT   seconds for steps 1-3 (default 120)
//   BERTH_DRAIN_SECONDS     seconds of step 5 (default 2)
//   BERTH_SERVING_CPU_SHARES  CPU weight the new container gets just before the switch (0: leave it)
//   BERTH_APP_IMAGE_REPO    the app images' repository (berth-<stack>-app); with BERTH_KEEP_APP_IMAGES
//                           (0: keep all), older images of it are removed after the switch
//   BERTH_BUILD_CACHE_KEEP_BYTES  build cache kept after the switch; unused cache beyond it is removed (0: keep all)
//   BERTH_APP_VERSION       with BERTH_APP_IMAGE_REPO: the image that went live is also tagged
//                           <repo>:v<version>, the tag a rollback (appImage "kept") runs again
"use strict";
const { engineTarget, request, call, enc, sleep, exec, inspect } = require("./engine-api");

const NAME = "cutover";
/** Warm-up before the switch: this many GETs (health path and home page), this many at a time. */
const WARM_REQUESTS = 64;
const WARM_CONCURRENCY = 16;

class Usage extends Error {}

function env(name, fallback) {
    const v = process.env[name];
    if (v === undefined || v === "") {
        if (fallback !== undefined) return fallback;
        throw new Usage(`${name} is not set`);
    }
    return v;
}

function positive(name, fallback) {
    const raw = env(name, String(fallback));
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0) throw new Usage(`${name} must be a number of seconds >= 0, got ${JSON.stringify(raw)}`);
    return n;
}

/** Reads the settings; throws Usage on anything malformed. */
function settings() {
    const host = env("BERTH_DOCKER_HOST");
    let target;
    try {
        target = engineTarget(host, () => ({ ca: env("BERTH_DOCKER_CA"), cert: env("BERTH_DOCKER_CERT"), key: env("BERTH_DOCKER_KEY") }));
    } catch (err) {
        if (err instanceof Usage) throw err;
        throw new Usage(`BERTH_DOCKER_HOST must look like tcp://IP:2376 or unix:///path, got ${JSON.stringify(host)}`);
    }
    const slots = env("BERTH_SLOTS").split(",");
    if (slots.length !== 2 || slots.some((s) => !/^[a-z0-9][a-z0-9_.-]*$/.test(s)) || slots[0] === slots[1]) {
        throw new Usage(`BERTH_SLOTS must be two different names "blue,green", got ${JSON.stringify(env("BERTH_SLOTS"))}`);
    }
    const appPort = Number(env("BERTH_APP_PORT"));
    const probePort = Number(env("BERTH_PROBE_PORT"));
    for (const [k, v] of [
        ["BERTH_APP_PORT", appPort],
        ["BERTH_PROBE_PORT", probePort],
    ]) {
        if (!Number.isInteger(v) || v < 1 || v > 65535) throw new Usage(`${k} must be a port number`);
    }
    const healthPath = env("BERTH_HEALTH_PATH");
    if (!/^\/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$/.test(healthPath)) throw new Usage(`BERTH_HEALTH_PATH must be a URL path`);
    const routeDir = env("BERTH_ROUTE_DIR");
    if (!/^\/[A-Za-z0-9._/-]+$/.test(routeDir)) throw new Usage(`BERTH_ROUTE_DIR must be an absolute path`);
    return {
        target,
        app: env("BERTH_APP_CONTAINER"),
        nginx: env("BERTH_NGINX_CONTAINER"),
        front: env("BERTH_FRONT_NETWORK"),
        slots: { blue: slots[0], green: slots[1] },
        appPort,
        probePort,
        healthPath,
        routeDir,
        timeoutMs: positive("BERTH_CUTOVER_TIMEOUT", 120) * 1000,
        drainMs: positive("BERTH_DRAIN_SECONDS", 2) * 1000,
        servingCpuShares: positive("BERTH_SERVING_CPU_SHARES", 0),
        imageRepo: env("BERTH_APP_IMAGE_REPO", ""),
        keepImages: positive("BERTH_KEEP_APP_IMAGES", 0),
        appVersion: env("BERTH_APP_VERSION", ""),
        buildCacheKeepBytes: positive("BERTH_BUILD_CACHE_KEEP_BYTES", 0),
    };
}

function log(message) {
    process.stdout.write(`${NAME}: ${message}\n`);
}

/** Resolves once `check` returns a value, or rejects with the last reason at the deadline. */
async function until(what, deadline, check) {
    let last = "";
    for (;;) {
        let reason;
        try {
            const r = await check();
            if (r.ok) return r.value;
            reason = r.reason;
        } catch (err) {
            reason = err.message;
        }
        if (reason !== last) log(`waiting for ${what}: ${reason}`);
        last = reason;
        if (Date.now() > deadline) throw new Error(`${what}: gave up after waiting (${last})`);
        await sleep(250);
    }
}

function healthOf(info) {
    if (!info.State.Running) return `not running (${info.State.Status}, restarts ${info.RestartCount})`;
    if (info.State.Health && info.State.Health.Status !== "healthy") return `health ${info.State.Health.Status}`;
    return undefined;
}

/** The slot nginx routes to now: the marker file's presence, read through the archive API. */
async function liveSlot(s) {
    const path = `${s.routeDir}/live-${s.slots.green}`;
    const res = await request(s.target, "HEAD", `/containers/${enc(s.nginx)}/archive?path=${enc(path)}`);
    if (res.status === 200) return "green";
    if (res.status === 404) return "blue";
    throw new Error(`reading the route marker in ${s.nginx}: HTTP ${res.status}`);
}

async function setLive(s, slot) {
    const marker = `${s.routeDir}/live-${s.slots.green}`;
    // Creating or removing one file is atomic: nginx sees the old route or the new one, never neither.
    const cmd = slot === "green" ? ["touch", marker] : ["rm", "-f", marker];
    const r = await exec(s.target, s.nginx, cmd);
    if (r.code !== 0) throw new Error(`setting the live slot in ${s.nginx} (${cmd.join(" ")}) exited ${r.code}: ${r.output.trim()}`);
    const now = await liveSlot(s);
    if (now !== slot) throw new Error(`the route marker in ${s.nginx} still says ${now} after switching to ${slot}`);
}

/** The front-network endpoint of a container: its aliases there and its address, or undefined. */
function frontEndpoint(info, front) {
    const nets = (info.NetworkSettings && info.NetworkSettings.Networks) || {};
    const ep = nets[front];
    if (!ep) return undefined;
    return { aliases: ep.Aliases || [], ip: ep.IPAddress };
}

/** One request through nginx's probe upstream of `slot`, from inside the nginx container. */
async function probe(s, slot) {
    const url = `http://127.0.0.1:${s.probePort}/${slot}${s.healthPath}`;
    const r = await exec(s.target, s.nginx, ["curl", "-sS", "-o", "/dev/null", "-D", "-", "--max-time", "5", url]);
    if (r.code !== 0) return { status: 0, upstream: "", detail: `curl exited ${r.code}: ${r.output.trim()}` };
    const status = Number((/^HTTP\/[\d.]+ (\d{3})/m.exec(r.output) || [])[1] || 0);
    const upstream = ((/^x-berth-upstream:\s*(.*?)\s*$/im.exec(r.output) || [])[1] || "").trim();
    return { status, upstream, detail: `HTTP ${status} from ${upstream || "no upstream"}` };
}

/**
 * Gives the container the serving CPU weight: it started with a low one, so that its start yielded
 * the CPUs to the version that serves (POST /containers/{id}/update, CpuShares).
 */
async function serve(s, id) {
    if (!s.servingCpuShares) return;
    await call(s.target, "POST", `/containers/${enc(id)}/update`, { CpuShares: s.servingCpuShares });
}

/**
 * Tags the image of the container that went live `<repo>:v<version>` (moving the tag from an older build
 * of the same version): a rollback to this version runs it again without a build.
 */
async function tagKept(s) {
    if (!s.imageRepo || !/^[1-9][0-9]*$/.test(s.appVersion)) return;
    const image = (await inspect(s.target, s.app)).Image;
    await call(
        s.target,
        "POST",
        `/images/${enc(image)}/tag?repo=${enc(s.imageRepo)}&tag=${enc(`v${s.appVersion}`)}`,
        undefined,
        [200, 201],
    );
    log(`tagged the live image ${s.imageRepo}:v${s.appVersion} (a rollback to v${s.appVersion} runs it again)`);
}

/**
 * Removes the app images beyond the newest `keepImages` (by creation time), never one a container
 * uses: every deploy builds a new image on the host's root disk.
 */
async function prune(s) {
    if (!s.imageRepo || !s.keepImages) return;
    const filters = enc(JSON.stringify({ reference: [s.imageRepo] }));
    const images = (await call(s.target, "GET", `/images/json?filters=${filters}`)).json || [];
    const used = new Set(((await call(s.target, "GET", "/containers/json?all=1")).json || []).map((c) => c.ImageID));
    const old = images
        .filter((img) => (img.RepoTags || []).some((t) => t.startsWith(`${s.imageRepo}:`)))
        .sort((a, b) => b.Created - a.Created)
        .slice(s.keepImages)
        .filter((img) => !used.has(img.Id));
    for (const img of old) {
        for (const tag of (img.RepoTags || []).filter((t) => t.startsWith(`${s.imageRepo}:`))) {
            await call(s.target, "DELETE", `/images/${enc(tag)}`, undefined, [200]).catch((err) => log(`keeping ${tag}: ${err.message}`));
        }
    }
    if (old.length) log(`removed ${old.length} old app image(s) of ${s.imageRepo}, kept the newest ${s.keepImages} and those in use`);
}

/**
 * Removes unused build cache beyond `buildCacheKeepBytes` (Engine API POST /build/prune; the limit is
 * `keep-storage` up to API 1.47 and `reserved-space` from 1.48, and an engine ignores the one it does
 * not know). Every deploy builds on the host, and the cache grows with each.
 */
async function pruneBuildCache(s) {
    if (!s.buildCacheKeepBytes) return;
    const q = `keep-storage=${s.buildCacheKeepBytes}&reserved-space=${s.buildCacheKeepBytes}`;
    const res = (await call(s.target, "POST", `/build/prune?${q}`)).json || {};
    log(
        `build cache: removed ${(res.CachesDeleted || []).length} unused entr(ies), ${res.SpaceReclaimed || 0} bytes; kept up to ${s.buildCacheKeepBytes} bytes`,
    );
}

async function main() {
    const s = settings();
    const deadline = Date.now() + s.timeoutMs;
    const started = Date.now();

    await until(`nginx container ${s.nginx} to run`, deadline, async () => {
        const info = await inspect(s.target, s.nginx);
        return info.State.Running ? { ok: true } : { ok: false, reason: `nginx is ${info.State.Status}` };
    });
    const appInfo = await until(`app container ${s.app} to be healthy`, deadline, async () => {
        const info = await inspect(s.target, s.app);
        const bad = healthOf(info);
        return bad ? { ok: false, reason: bad } : { ok: true, value: info };
    });
    const appId = appInfo.Id;

    const live = await liveSlot(s);
    const idle = live === "blue" ? "green" : "blue";
    const mine = frontEndpoint(appInfo, s.front);
    if (mine && mine.aliases.includes(s.slots[live])) {
        await serve(s, appId);
        log(`${s.app} is already live in slot ${live}; nothing to switch`);
        return;
    }

    // Whoever else holds the idle slot's name is a leftover (an earlier cutover that stopped half
    // way): the idle slot serves no request, so it can go.
    const network = (await call(s.target, "GET", `/networks/${enc(s.front)}`)).json;
    for (const id of Object.keys(network.Containers || {})) {
        if (id === appId) continue;
        const info = await inspect(s.target, id).catch(() => undefined);
        const ep = info && frontEndpoint(info, s.front);
        if (ep && ep.aliases.includes(s.slots[idle])) {
            log(`disconnecting ${info.Name.replace(/^\//, "")}, a leftover in the idle slot ${idle}`);
            await call(s.target, "POST", `/networks/${enc(s.front)}/disconnect`, { Container: id, Force: true });
        }
    }
    if (mine && !mine.aliases.includes(s.slots[idle])) {
        await call(s.target, "POST", `/networks/${enc(s.front)}/disconnect`, { Container: appId, Force: true });
    }
    if (!mine || !mine.aliases.includes(s.slots[idle])) {
        await call(s.target, "POST", `/networks/${enc(s.front)}/connect`, {
            Container: appId,
            EndpointConfig: { Aliases: [s.slots[idle]] },
        });
    }
    log(`${s.app} joined the front network as ${s.slots[idle]} (idle slot ${idle}); ${s.slots[live]} keeps serving`);

    try {
        let good = 0;
        await until(`nginx to reach ${s.app} through slot ${idle}`, deadline, async () => {
            const info = await inspect(s.target, s.app);
            const bad = healthOf(info);
            if (bad) {
                good = 0;
                return { ok: false, reason: `${s.app}: ${bad}` };
            }
            const ep = frontEndpoint(info, s.front);
            const want = ep && `${ep.ip}:${s.appPort}`;
            const p = await probe(s, idle);
            // Three answers in a row from that container alone: nginx has resolved the slot to it.
            good = p.status === 200 && p.upstream === want ? good + 1 : 0;
            return good >= 3 ? { ok: true } : { ok: false, reason: `${p.detail}, want 200 from ${want}` };
        });
    } catch (err) {
        await call(s.target, "POST", `/networks/${enc(s.front)}/disconnect`, { Container: appId, Force: true }).catch(() => undefined);
        throw new Error(`${err.message}. The live version was not touched and ${s.app} was taken off the front network.`, {
            cause: err,
        });
    }

    // Warm it up through the slot's routed upstream, so the first live requests do not pay for its
    // cold start (nginx's keep-alive pool to it, the app's connection pool and compiled code): GETs
    // of the health path and of the home page, which a GET must leave unchanged.
    const warmPaths = [...new Set([s.healthPath, "/"])];
    const warm = await exec(s.target, s.nginx, [
        "curl",
        "-sS",
        "-o",
        "/dev/null",
        "--max-time",
        "10",
        "--parallel",
        "--parallel-max",
        String(WARM_CONCURRENCY),
        ...Array.from(
            { length: WARM_REQUESTS },
            (_, i) => `http://127.0.0.1:${s.probePort}/warm/${idle}${warmPaths[i % warmPaths.length]}`,
        ),
    ]);
    if (warm.code !== 0) log(`warm-up requests did not all succeed (curl exited ${warm.code}); switching anyway: the probe passed`);
    await serve(s, appId);
    log(`switching nginx to slot ${idle}`);
    await setLive(s, idle);
    log(`switched: slot ${idle} (${s.app}) is live after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    // Requests nginx routed to the old slot just before the flip are on their way; let them land
    // before the old container is told to stop.
    await sleep(s.drainMs);
    // Best effort: a failure here never fails a deploy that already switched.
    await tagKept(s).catch((err) => log(`tagging the live image for rollbacks failed: ${err.message}`));
    await prune(s).catch((err) => log(`removing old app images failed, left for the next deploy: ${err.message}`));
    await pruneBuildCache(s).catch((err) => log(`removing build cache failed, left for the next deploy: ${err.message}`));
}

main().catch((err) => {
    if (err instanceof Usage) {
        console.error(`${NAME}: ${err.message}`);
        process.exit(2);
    }
    console.error(`${NAME}: ${err.message}`);
    process.exit(1);
});
