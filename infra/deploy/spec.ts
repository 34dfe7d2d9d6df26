/**
 * Pure decisions of the deployment: names, environment, health checks, the image tag. Plain values
 * in, plain values out; the component only wires them.
 */
/** MySQL's name on the backend network. */
export const MYSQL_ALIAS = "mysql";
export const MYSQL_PORT = 3306;

/** Seconds MySQL gets to shut InnoDB down cleanly before it is killed. */
export const MYSQL_STOP_GRACE_SECONDS = 120;

export interface AppEnvInput {
    appVersion: number;
    appPort: number;
    mysqlUser: string;
    mysqlDatabase: string;
    mysqlPassword: string;
    secretKeyBase: string;
    /** Largest request body in bytes, the same as nginx's client_max_body_size. */
    maxBodySize: number;
    appEnv: Readonly<Record<string, string>>;
}

/** The app contract's environment, as Docker `KEY=value` entries, in a stable order. */
export function appEnvironment(i: AppEnvInput): string[] {
    const env: Record<string, string> = {
        ...i.appEnv,
        PORT: String(i.appPort),
        APP_VERSION: String(i.appVersion),
        MYSQL_HOST: MYSQL_ALIAS,
        MYSQL_PORT: String(MYSQL_PORT),
        MYSQL_USER: i.mysqlUser,
        MYSQL_PASSWORD: i.mysqlPassword,
        MYSQL_DATABASE: i.mysqlDatabase,
        SECRET_KEY_BASE: i.secretKeyBase,
        MAX_BODY_SIZE: String(i.maxBodySize),
    };
    return Object.keys(env)
        .sort()
        .map((k) => `${k}=${env[k]}`);
}

/** The names the app's environment holds, in order (values left out: some are secrets). */
export function appEnvironmentNames(appEnv: Readonly<Record<string, string>>): string[] {
    return appEnvironment({
        appVersion: 1,
        appPort: 1,
        mysqlUser: "",
        mysqlDatabase: "",
        mysqlPassword: "",
        secretKeyBase: "",
        maxBodySize: 1,
        appEnv,
    }).map((e) => e.slice(0, e.indexOf("=")));
}

/** The official mysql image's initialisation variables. */
export function mysqlEnvironment(i: { rootPassword: string; user: string; password: string; database: string }): string[] {
    return [
        `MYSQL_DATABASE=${i.database}`,
        `MYSQL_PASSWORD=${i.password}`,
        `MYSQL_ROOT_PASSWORD=${i.rootPassword}`,
        `MYSQL_USER=${i.user}`,
    ];
}

export interface HealthCheck {
    tests: string[];
    interval: string;
    timeout: string;
    retries: number;
    startPeriod: string;
}

/**
 * The app's health check: the given shell command, or else a probe of the health path with Node's
 * own fetch (official Node images have no curl or wget).
 */
export function appHealthCheck(i: { appPort: number; healthPath: string; command?: string }): HealthCheck {
    const url = `http://127.0.0.1:${i.appPort}${i.healthPath}`;
    const tests = i.command
        ? ["CMD-SHELL", i.command]
        : ["CMD", "node", "-e", `fetch(${JSON.stringify(url)}).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`];
    return { tests, interval: "5s", timeout: "4s", retries: 3, startPeriod: "30s" };
}

/**
 * `mysqladmin ping` succeeds only once the server accepts TCP, i.e. after initialisation. Durations
 * are written as Go's time.Duration.String() writes them ("2m0s", not "120s"): the provider reads
 * them back that way, and any other spelling shows a change on every `pulumi up`.
 */
export function mysqlHealthCheck(): HealthCheck {
    return {
        tests: ["CMD-SHELL", `mysqladmin ping -h 127.0.0.1 -P ${MYSQL_PORT} --silent`],
        interval: "5s",
        timeout: "5s",
        retries: 10,
        startPeriod: "2m0s",
    };
}

/** Docker platform of a CPU architecture, so the image is built for the engine's host and not the laptop. */
export function dockerPlatform(architecture: "x86_64" | "arm64"): string {
    return architecture === "arm64" ? "linux/arm64" : "linux/amd64";
}

/** The app image's tag: the version, then the context digest. */
export function appImageName(stack: string, appVersion: number, digest: string): string {
    return `berth-${stack.toLowerCase().replace(/[^a-z0-9_.-]/g, "-")}-app:v${appVersion}-${digest.slice(0, 12)}`;
}

/**
 * `text` with every word of a secret command (`command`'s arguments; for `sh -c <line>`, the words of
 * the line) replaced by "***": a failing step's output may repeat its command, as a shell's
 * "not found" does.
 */
export function maskWords(text: string, command: readonly string[]): string {
    const parts = command[0] === "sh" && command[1] === "-c" ? command.slice(2) : command;
    const words = [...new Set(parts.flatMap((p) => [p, ...p.split(/\s+/)]))]
        .filter((w) => w.length > 0)
        .sort((a, b) => b.length - a.length);
    let out = text;
    for (const w of words) out = out.split(w).join("***");
    return out;
}

/** The error a failed one-shot step raises: what ran, how it ended, its output, and what to do. */
export function stepFailure(step: string, i: { container: string; exitCode: number; logs: string; urn: string }): string {
    return [
        `${step} failed: container ${i.container} exited with code ${i.exitCode}. Its output:`,
        i.logs.trimEnd() || "(no output)",
        "The running app version was not touched. Fix the cause and run `pulumi up` again;",
        `to retry the same step unchanged: pulumi up --replace '${i.urn}'`,
    ].join("\n");
}
