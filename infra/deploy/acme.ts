/**
 * The ACME client on the engine: lego (https://go-acme.github.io/lego/) in a long-running container that
 * gets the certificate, renews it, and publishes it where nginx reads it. Plain values and the script; the
 * plan (plan.ts) makes the container of them.
 */

/** Where the ACME storage directory is in the ACME container. */
export const ACME_DIR = "/berth-acme";
/** Subdirectories of the ACME storage: lego's own (account, certificates), the challenge files, what nginx reads. */
export const ACME_SUBDIRS = { lego: "lego", webroot: "webroot", live: "live" } as const;
/** Where nginx sees the live certificate (`fullchain.pem`, `privkey.pem`), read-only. */
export const NGINX_CERT_DIR = "/etc/nginx/berth-tls";
/** Where nginx sees the challenge webroot, read-only; lego writes `<webroot>/.well-known/acme-challenge/<token>`. */
export const NGINX_ACME_ROOT = "/var/lib/berth-acme";
/** Where the CA the ACME client trusts for a private directory is uploaded in its container. */
export const ACME_CA_FILE = "/etc/berth-acme-ca.pem";
/**
 * The group of nginx's worker processes in the official nginx images (docker-library nginx Dockerfiles:
 * `addgroup -g 101 -S nginx` on Alpine, `groupadd --system --gid 101 nginx` on Debian). The workers load the
 * certificate at handshake time, so the key is published readable by this group only (0640).
 */
export const NGINX_WORKER_GID = 101;
/** Days before expiry lego renews (lego renew --days; its default). Let's Encrypt's certificates last 90. */
export const RENEW_DAYS = 30;
/** Seconds between two checks once the certificate is current. */
export const CHECK_SECONDS = 12 * 3600;
/** First wait after a failure, doubled after each failure up to RETRY_MAX_SECONDS. */
export const RETRY_SECONDS = 20;
export const RETRY_MAX_SECONDS = 3600;
/** How long nginx keeps using a loaded certificate before it looks at the files again. */
export const CERT_CHECK_INTERVAL = "10s";

/**
 * The ACME container's environment: plain values (the account's email, the names, the directory), read by
 * {@link acmeScript}. No secret: the account key and the certificate's key are made on the host by lego
 * and never leave its data volume.
 */
export function acmeEnvironment(i: { domains: readonly string[]; email: string; server: string; caCertificate?: string }): string[] {
    return [
        `ACME_DOMAINS=${i.domains.join(" ")}`,
        `ACME_EMAIL=${i.email}`,
        `ACME_SERVER=${i.server}`,
        `CERT_GID=${NGINX_WORKER_GID}`,
        `CHECK_SECONDS=${CHECK_SECONDS}`,
        `RENEW_DAYS=${RENEW_DAYS}`,
        `RETRY_MAX_SECONDS=${RETRY_MAX_SECONDS}`,
        `RETRY_SECONDS=${RETRY_SECONDS}`,
        // lego trusts these for the directory's HTTPS besides the system's roots (lego/client_config.go, caCertificatesEnvVar).
        ...(i.caCertificate === undefined ? [] : [`LEGO_CA_CERTIFICATES=${ACME_CA_FILE}`]),
    ].sort();
}

/**
 * The loop the ACME container runs (POSIX sh: busybox in the official lego image).
 *
 * - First, and whenever the names or the directory change: `lego run`, a new order. Then every CHECK_SECONDS:
 *   `lego renew`, which orders only when the certificate has RENEW_DAYS or fewer left, or when the CA's
 *   renewal info (ARI, RFC 9773) says so (lego cmd/cmd_renew.go, renewForDomains), with the same key
 *   (--reuse-key), so a renewal replaces only fullchain.pem and nginx never pairs a new key with an old chain.
 * - After a success, the key and then the chain are copied into `live/` by write-beside-and-rename: a reader
 *   sees the old file or the new one, never half of one. nginx redirects HTTP once `live/fullchain.pem` exists,
 *   so the key is there first.
 * - After a failure (the directory unreachable, a refused order, a rate limit): one `berth-acme:` line saying
 *   what failed and what keeps serving, then a retry after RETRY_SECONDS, doubled each time up to
 *   RETRY_MAX_SECONDS. Whatever was published keeps serving; lego's own output above it has the CA's answer.
 * - SIGTERM ends it at once (the sleeps run in the background so the trap runs).
 *
 * `at` moves the storage directory and the lego binary (the official image's `/lego`) for tests.
 */
export function acmeScript(at: { dir?: string; lego?: string } = {}): string {
    const dir = at.dir ?? ACME_DIR;
    const legoBin = at.lego ?? "/lego";
    const { lego, webroot, live } = ACME_SUBDIRS;
    return [
        "set -u",
        `trap 'echo "berth-acme: stopping"; exit 0' TERM INT`,
        `dir=${dir}; live=$dir/${live}`,
        `mkdir -p "$dir/${lego}" "$dir/${webroot}" "$live" && chgrp "$CERT_GID" "$live" && chmod 0750 "$live" || exit 1`,
        "main=${ACME_DOMAINS%% *}",
        `crt="$dir/${lego}/certificates/$main.crt"; key="$dir/${lego}/certificates/$main.key"`,
        'want="$ACME_DOMAINS $ACME_SERVER"',
        `set -- --accept-tos --email "$ACME_EMAIL" --server "$ACME_SERVER" --path "$dir/${lego}" --key-type ec256 --http --http.webroot "$dir/${webroot}"`,
        'for d in $ACME_DOMAINS; do set -- "$@" --domains "$d"; done',
        'nap() { sleep "$1" & wait $!; }',
        // $1: source, $2: name in live/, $3: mode. Returns 0 when the file is there and current.
        "put() {",
        '  cmp -s "$1" "$live/$2" && return 0',
        '  cp "$1" "$live/.$2.tmp" && chgrp "$CERT_GID" "$live/.$2.tmp" && chmod "$3" "$live/.$2.tmp" && mv -f "$live/.$2.tmp" "$live/$2" || return 1',
        '  echo "berth-acme: published $2"',
        "}",
        "delay=$RETRY_SECONDS",
        "while :; do",
        `  if [ -s "$crt" ] && [ "$(cat "$dir/berth-order" 2>/dev/null)" = "$want" ]; then`,
        `    what=renew; ${legoBin} "$@" renew --days "$RENEW_DAYS" --no-random-sleep --reuse-key; rc=$?`,
        "  else",
        `    what=run; ${legoBin} "$@" run; rc=$?`,
        "  fi",
        '  if [ "$rc" -eq 0 ] && put "$key" privkey.pem 0640 && put "$crt" fullchain.pem 0644; then',
        `    printf '%s\\n' "$want" > "$dir/berth-order"`,
        "    delay=$RETRY_SECONDS",
        '    echo "berth-acme: certificate for $ACME_DOMAINS is current; next check in $CHECK_SECONDS s"',
        '    nap "$CHECK_SECONDS"',
        "  else",
        '    if [ -s "$live/fullchain.pem" ]; then keeps="the current certificate keeps serving"; else keeps="HTTP keeps serving the app until a certificate is issued"; fi',
        '    echo "berth-acme: lego $what failed (exit $rc) for $ACME_DOMAINS at $ACME_SERVER; $keeps; next try in $delay s"',
        '    nap "$delay"',
        '    delay=$((delay * 2)); [ "$delay" -gt "$RETRY_MAX_SECONDS" ] && delay=$RETRY_MAX_SECONDS',
        "  fi",
        "done",
    ].join("\n");
}
