/**
 * The day-2 keys of target aws: scheduled snapshots of the data volume, the dumps' S3 copy, alerts, and
 * how long the containers' logs are kept in CloudWatch Logs.
 */
import { ConfigError, recording, trimmed as present } from "./fields";
import type { RawConfig } from "./types";

/**
 * When the data volume is snapshotted: Data Lifecycle Manager's create rule
 * (https://docs.aws.amazon.com/dlm/latest/APIReference/API_CreateRule.html): every N hours (N one of
 * 1, 2, 3, 4, 6, 8, 12, 24) from a time of day (UTC), or off.
 */
export type BackupSchedule = { readonly kind: "off" } | { readonly kind: "every"; readonly hours: number; readonly at: string };

export interface Day2Config {
    /** Scheduled EBS snapshots of the data volume. Default: daily at 03:00 UTC. */
    readonly backupSchedule: BackupSchedule;
    /** Scheduled snapshots kept (the oldest is deleted past this count), 1..1000. Default 7. */
    readonly backupRetain: number;
    /** Copy the dumps taken before each migration to an S3 bucket Berth declares. Default false. */
    readonly dumpBucket: boolean;
    /** Address the alerts' SNS topic mails (a subscription to confirm); undefined: no subscription. */
    readonly alertEmail: string | undefined;
    /** Days CloudWatch Logs keeps the containers' logs. Default 14. */
    readonly logRetentionDays: number;
}

/** The keys and what each is when not set (Pulumi.yaml's defaults, as the CLI passes them on). */
export const DAY2_KEYS: Readonly<Record<string, string>> = {
    backupSchedule: "daily",
    backupRetain: "7",
    dumpBucket: "false",
    alertEmail: "",
    logRetentionDays: "14",
};

/** DLM's intervals in hours. */
export const BACKUP_INTERVAL_HOURS = [1, 2, 3, 4, 6, 8, 12, 24] as const;
/** CloudWatch Logs' accepted retentions, in days (PutRetentionPolicy, retentionInDays). */
export const LOG_RETENTION_DAYS = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

const SCHEDULE_FORM =
    '"daily" (03:00 UTC), "daily at HH:MM" (UTC), "every N hours" (N: 1, 2, 3, 4, 6, 8, 12 or 24, from 00:00 UTC) or "off"';

export function parseBackupSchedule(text: string | undefined): BackupSchedule {
    const v = (text ?? "daily").toLowerCase().replace(/\s+/g, " ");
    if (v === "off") return { kind: "off" };
    if (v === "daily") return { kind: "every", hours: 24, at: "03:00" };
    const daily = /^daily at ([01][0-9]|2[0-3]):([0-5][0-9])$/.exec(v);
    if (daily) return { kind: "every", hours: 24, at: `${daily[1]}:${daily[2]}` };
    const every = /^every ([0-9]{1,2}) hours?$/.exec(v);
    const hours = every ? Number(every[1]) : NaN;
    if ((BACKUP_INTERVAL_HOURS as readonly number[]).includes(hours)) return { kind: "every", hours, at: "00:00" };
    throw new ConfigError("backupSchedule", SCHEDULE_FORM, text ?? "");
}

/** The day-2 settings; every problem goes to `fail`, so all are reported at once. */
export function parseDay2(raw: RawConfig, fail: (e: ConfigError) => void): Day2Config {
    const attempt = recording(fail);
    const retain = attempt(() => {
        const v = present(raw, "backupRetain");
        if (v === undefined) return 7;
        const n = /^\d+$/.test(v) ? Number(v) : NaN;
        if (!(n >= 1 && n <= 1000)) throw new ConfigError("backupRetain", "an integer from 1 to 1000 (snapshots kept)", v);
        return n;
    }, 7);
    const email = present(raw, "alertEmail");
    return {
        backupSchedule: attempt(() => parseBackupSchedule(present(raw, "backupSchedule")), { kind: "every", hours: 24, at: "03:00" }),
        backupRetain: retain,
        dumpBucket: attempt(() => {
            const v = present(raw, "dumpBucket");
            if (v === undefined || v === "false") return false;
            if (v === "true") return true;
            throw new ConfigError("dumpBucket", "true or false", v);
        }, false),
        alertEmail: attempt(() => {
            if (email === undefined) return undefined;
            if (!/^[^\s@"'\\`$<>()]+@[a-z0-9.-]+\.[a-z]{2,63}$/i.test(email) || email.length > 254) {
                throw new ConfigError("alertEmail", 'an email address such as "ops@example.com"', email);
            }
            return email;
        }, undefined),
        logRetentionDays: attempt(() => {
            const v = present(raw, "logRetentionDays");
            if (v === undefined) return 14;
            const n = /^\d+$/.test(v) ? Number(v) : NaN;
            if (!(LOG_RETENTION_DAYS as readonly number[]).includes(n)) {
                throw new ConfigError(
                    "logRetentionDays",
                    `one of CloudWatch Logs' retentions in days: ${LOG_RETENTION_DAYS.join(", ")}`,
                    v,
                );
            }
            return n;
        }, 14),
    };
}
