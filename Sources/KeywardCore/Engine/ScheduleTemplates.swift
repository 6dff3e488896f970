import Foundation

/// What `keyward schedule print` writes: a crontab line, a systemd service and timer, or a
/// Kubernetes CronJob that runs `keyward rotate` and then `keyward sync` with one configuration.
///
/// Every schedule runs hourly, because an entity token (24 h) is minted again only by a run that
/// finds it within its `tokenRefreshBefore` of expiry (see ``tokenRefreshWarning(_:)``). Sync
/// runs even when rotate failed (it refreshes tokens and writes sinks), and the job fails when
/// either did: rotate's status when it failed, else sync's. Rotation is safe to run often
/// (nothing is reset unless due) and concurrent runs are locked out per entity, but the CronJob
/// also says `concurrencyPolicy: Forbid`.
public enum ScheduleTemplates {
    /// What a cron or systemd job runs; every path absolute.
    public struct Job: Sendable, Equatable {
        /// The `keyward` executable.
        public var keyward: String
        /// The configuration file.
        public var config: String
        /// The vault, passed as `--vault`; `nil` leaves it to the configuration.
        public var vault: String?
        /// The key file, set as `KEYWARD_KEY_FILE`; `nil` when there is none (see ``unlockWarning``).
        public var keyFile: String?

        public init(keyward: String, config: String, vault: String? = nil, keyFile: String? = nil) {
            self.keyward = keyward
            self.config = config
            self.vault = vault
            self.keyFile = keyFile
        }
    }

    /// The longest time between two runs of a printed schedule, delays included (an hour, plus
    /// the timer's 5 min `RandomizedDelaySec=` and slack for a slow run), which an entity's
    /// `tokenRefreshBefore` must exceed so that no run finds a token already expired.
    public static let longestGapSeconds: Int64 = 90 * 60

    /// The `tokenRefreshBefore` the warning suggests.
    public static let suggestedTokenRefreshBefore = "2h"

    /// A warning naming the entities whose `tokenRefreshBefore` is shorter than
    /// ``longestGapSeconds``: an hourly job may find their token not yet due and the next run
    /// come after it expired, leaving an expired token in the sinks. `nil` when there are none.
    public static func tokenRefreshWarning(_ entities: [EntityConfiguration]) -> String? {
        let short = entities.filter { $0.tokenRefreshBefore < .seconds(longestGapSeconds) }
            .sorted { $0.id.rawValue < $1.id.rawValue }
        guard !short.isEmpty else { return nil }
        let names = short.map { "\($0.id.rawValue) (\(DurationParser.format(seconds: $0.tokenRefreshBefore.components.seconds)))" }
        return "the schedule runs hourly, but the entity token of \(names.joined(separator: ", ")) is refreshed only "
            + "within its tokenRefreshBefore of expiry, less than the \(DurationParser.format(seconds: longestGapSeconds)) "
            + "between two runs, so a token in a sink can expire before the next run; set "
            + "tokenRefreshBefore: \(suggestedTokenRefreshBefore) for them in keyward.yaml, or run `keyward schedule run` "
            + "instead, which wakes up when each token is due"
    }

    /// The warning for a cron or systemd schedule printed without `KEYWARD_KEY_FILE`: the job
    /// cannot type a passphrase.
    public static let unlockWarning = "KEYWARD_KEY_FILE is not set, so the scheduled job has no way to unlock the vault "
        + "(it cannot type a passphrase): add a key file slot with `keyward vault key add --key-file PATH`, then print "
        + "the schedule again with KEYWARD_KEY_FILE=PATH set"

    // MARK: The shell script every schedule runs

    /// The script `/bin/sh` runs: rotate, then sync whatever rotate did, then exit with
    /// rotate's status if it failed, else sync's. `word` quotes each word for sh (and for the
    /// format around it); `environment` prefixes each command (cron's variable assignments);
    /// `discardOutput` sends each command's stdout (its results) to /dev/null.
    static func script(_ job: Job, environment: String = "", discardOutput: Bool = false,
                       word: (String) -> String = shellWord) -> String {
        func command(_ name: String) -> String {
            let words = [job.keyward, name, "--config", job.config] + (job.vault.map { ["--vault", $0] } ?? []) + ["--quiet"]
            return environment + words.map(word).joined(separator: " ") + (discardOutput ? " >/dev/null" : "")
        }
        return command("rotate") + "; r=$?; " + command("sync") + "; s=$?; "
            + #"[ "$r" -eq 0 ] || exit "$r"; exit "$s""#
    }

    /// Quotes one word for sh: as it is when it holds only characters sh leaves alone, else in
    /// single quotes (a `'` inside written `'\''`).
    static func shellWord(_ word: String) -> String {
        let safe = word.unicodeScalars.allSatisfy { $0.isASCIIAlphanumeric || "-_./:=@+,".unicodeScalars.contains($0) }
        return safe && !word.isEmpty ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    // MARK: cron

    /// Quotes one word for sh inside a crontab line, where cron turns an unescaped `%` into a
    /// newline and `\%` into `%` (crontab(5)). A `%` is only ever in a single-quoted word; it is
    /// written `'\%'` (close the quote, `\%`, reopen), so no backslash of the word itself can
    /// come right before it and escape the escape.
    static func cronWord(_ word: String) -> String {
        shellWord(word).replacingOccurrences(of: "%", with: "'\\%'")
    }

    /// One crontab line, hourly at 17 minutes past (local time of the cron daemon), for cron's
    /// `/bin/sh`. The commands' results (stdout) go to /dev/null, so cron mails only errors.
    ///
    /// - Throws: ``KeywardError`` (usage) when a path holds a line break, which no crontab line can.
    public static func cron(_ job: Job) throws -> String {
        for path in [job.keyward, job.config, job.vault, job.keyFile].compactMap({ $0 })
        where path.unicodeScalars.contains(where: { $0 == "\n" || $0 == "\r" }) {
            throw KeywardError.usage("--cron: a crontab line cannot hold the line break in \(String(reflecting: path))")
        }
        let environment = job.keyFile.map { "KEYWARD_KEY_FILE=\(cronWord($0)) " } ?? ""
        return "# keyward: rotate what is due, then sync (tokens, sinks), hourly; fails if either failed\n"
            + "17 * * * * " + script(job, environment: environment, discardOutput: true, word: cronWord) + "\n"
    }

    // MARK: systemd

    /// One systemd unit-file value in double quotes (systemd.syntax(7), "Quoting"): `\` and `"`
    /// escaped with a backslash, control characters as C escapes, `%` written `%%` (a specifier
    /// otherwise), and `$` written `$$` when `variables` (ExecStart= expands `$NAME`;
    /// Environment= does not).
    static func systemdQuoted(_ value: String, variables: Bool) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "%": out += "%%"
            case "$" where variables: out += "$$"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                out += "\\x" + String(format: "%02x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// A oneshot service and an hourly timer (systemd.service(5), systemd.timer(5)). `/bin/sh`
    /// runs the two commands so that sync runs even when rotate failed and the unit fails when
    /// either did (two ExecStart= lines would skip sync after a failed rotate). No `PrivateTmp=`:
    /// the configuration, key file, vault or a sink may be under /tmp.
    public static func systemd(_ job: Job) -> String {
        var service = """
            # /etc/systemd/system/keyward-rotate.service
            [Unit]
            Description=Keyward: rotate entity secrets that are due, then sync tokens and sinks
            Wants=network-online.target
            After=network-online.target

            [Service]
            Type=oneshot

            """
        if let keyFile = job.keyFile {
            service += "Environment=" + systemdQuoted("KEYWARD_KEY_FILE=" + keyFile, variables: false) + "\n"
        }
        service += "ExecStart=/bin/sh -c " + systemdQuoted(script(job), variables: true) + "\n"
        service += """
            NoNewPrivileges=yes

            # /etc/systemd/system/keyward-rotate.timer
            [Unit]
            Description=Run keyward-rotate.service hourly

            [Timer]
            OnCalendar=hourly
            RandomizedDelaySec=5m
            Persistent=true

            [Install]
            WantedBy=timers.target

            """
        return service
    }

    // MARK: Kubernetes

    /// A YAML double-quoted scalar (YAML 1.2, 7.3.1) that every YAML reader gives back as
    /// exactly `value`: `\` and `"` escaped, and every character YAML does not allow as is, or
    /// that a reader could take as a line break or byte order mark, written as an escape.
    static func yamlString(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar.value {
            case 0x5C: out += "\\\\"
            case 0x22: out += "\\\""
            case 0x0A: out += "\\n"
            case 0x09: out += "\\t"
            case 0x0D: out += "\\r"
            case 0x00..<0x20, 0x7F...0x9F: out += "\\x" + String(format: "%02X", scalar.value)
            case 0x2028, 0x2029, 0xFEFF, 0xFFFE, 0xFFFF: out += "\\u" + String(format: "%04X", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// A `batch/v1` CronJob (hourly, `concurrencyPolicy: Forbid`) running the image's `keyward`
    /// with the configuration and key file mounted read-only from the named Secret, and the vault
    /// (with its rollback anchor) on the `keyward-vault` PersistentVolumeClaim, since the vault
    /// must outlive each run. Every string is a quoted scalar, so no option can change the
    /// manifest's structure. The names are not checked here: the command validates them.
    ///
    /// - Parameters:
    ///   - image: the container image holding `keyward`.
    ///   - namespace: a DNS-1123 label, or `nil` to leave it to `kubectl apply -n`.
    ///   - secretName: a Secret (a DNS-1123 subdomain) holding `keyward.yaml` and `vault.key`,
    ///     mounted at /etc/keyward.
    public static func kubernetes(image: String, namespace: String?, secretName: String) -> String {
        let job = Job(keyward: "keyward", config: "/etc/keyward/keyward.yaml")
        let q = yamlString
        var manifest = """
            apiVersion: \(q("batch/v1"))
            kind: \(q("CronJob"))
            metadata:
              name: \(q("keyward-rotate"))

            """
        if let namespace { manifest += "  namespace: \(q(namespace))\n" }
        manifest += """
            spec:
              schedule: \(q("17 * * * *"))
              concurrencyPolicy: \(q("Forbid"))
              successfulJobsHistoryLimit: 3
              failedJobsHistoryLimit: 3
              jobTemplate:
                spec:
                  backoffLimit: 0
                  template:
                    spec:
                      restartPolicy: \(q("Never"))
                      containers:
                        - name: \(q("keyward"))
                          image: \(q(image))
                          command: [\(q("/bin/sh")), \(q("-c")), \(q(script(job)))]
                          env:
                            - name: \(q("KEYWARD_KEY_FILE"))
                              value: \(q("/etc/keyward/vault.key"))
                            - name: \(q("KEYWARD_VAULT"))
                              value: \(q("/var/lib/keyward/vault.db"))
                            - name: \(q("XDG_STATE_HOME"))
                              value: \(q("/var/lib/keyward/state"))
                          volumeMounts:
                            - name: \(q("keyward"))
                              mountPath: \(q("/etc/keyward"))
                              readOnly: true
                            - name: \(q("vault"))
                              mountPath: \(q("/var/lib/keyward"))
                      volumes:
                        - name: \(q("keyward"))
                          secret:
                            secretName: \(q(secretName))
                            defaultMode: 0400
                        - name: \(q("vault"))
                          persistentVolumeClaim:
                            claimName: \(q("keyward-vault"))

            """
        return manifest
    }
}
