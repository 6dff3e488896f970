import Foundation

/// What `keyward schedule print` writes: a crontab line, a systemd service and timer, or a
/// Kubernetes CronJob that runs `keyward rotate` and then `keyward sync` with one configuration.
/// Rotation is safe to run often (nothing is reset unless due) and concurrent runs are locked out
/// per entity, but the CronJob also says `concurrencyPolicy: Forbid`.
public enum ScheduleTemplates {
    /// The two commands every schedule runs, in order.
    static func commands(keyward: String, config: String) -> [[String]] {
        [[keyward, "rotate", "--config", config, "--quiet"], [keyward, "sync", "--config", config, "--quiet"]]
    }

    /// Quotes one word for sh and for crontab (where `%` is special).
    static func shellWord(_ word: String) -> String {
        let safe = word.unicodeScalars.allSatisfy { $0.isASCIIAlphanumeric || "-_./:=@+,".unicodeScalars.contains($0) }
        let quoted = safe && !word.isEmpty ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
        return quoted.replacingOccurrences(of: "%", with: "\\%")
    }

    /// One crontab line: daily at 03:17 (local time of the cron daemon); rotate, then sync even
    /// when rotate failed, so tokens stay fresh.
    public static func cron(keyward: String, config: String, keyFile: String?) -> String {
        let environment = keyFile.map { "KEYWARD_KEY_FILE=\(shellWord($0)) " } ?? ""
        let run = commands(keyward: keyward, config: config).map { environment + $0.map(shellWord).joined(separator: " ") }
        return "# keyward: rotate what is due, then sync (tokens, sinks)\n17 3 * * * " + run.joined(separator: "; ") + "\n"
    }

    /// A oneshot service and a daily timer (systemd.service(5), systemd.timer(5)).
    public static func systemd(keyward: String, config: String, keyFile: String?) -> String {
        var service = """
            # /etc/systemd/system/keyward-rotate.service
            [Unit]
            Description=Keyward: rotate entity secrets that are due, then sync tokens and sinks
            Wants=network-online.target
            After=network-online.target

            [Service]
            Type=oneshot

            """
        if let keyFile { service += "Environment=KEYWARD_KEY_FILE=\(keyFile)\n" }
        for command in commands(keyward: keyward, config: config) {
            service += "ExecStart=" + command.map { $0.contains(" ") ? "\"\($0)\"" : $0 }.joined(separator: " ") + "\n"
        }
        service += """
            NoNewPrivileges=yes
            PrivateTmp=yes

            # /etc/systemd/system/keyward-rotate.timer
            [Unit]
            Description=Run keyward-rotate.service daily

            [Timer]
            OnCalendar=daily
            RandomizedDelaySec=1h
            Persistent=true

            [Install]
            WantedBy=timers.target

            """
        return service
    }

    /// A `batch/v1` CronJob (daily, `concurrencyPolicy: Forbid`) running the image's `keyward`
    /// with the configuration and key file mounted read-only from the named Secret, and the vault
    /// (with its rollback anchor) on the `keyward-vault` PersistentVolumeClaim, since the vault
    /// must outlive each run.
    ///
    /// - Parameters:
    ///   - image: the container image holding `keyward`.
    ///   - secretName: a Secret holding `keyward.yaml` and `vault.key`, mounted at /etc/keyward.
    public static func kubernetes(image: String, namespace: String?, secretName: String) -> String {
        let script = commands(keyward: "keyward", config: "/etc/keyward/keyward.yaml").map { $0.joined(separator: " ") }.joined(separator: "; ")
        var manifest = """
            apiVersion: batch/v1
            kind: CronJob
            metadata:
              name: keyward-rotate

            """
        if let namespace { manifest += "  namespace: \"\(namespace)\"\n" }
        manifest += """
            spec:
              schedule: "17 3 * * *"
              concurrencyPolicy: Forbid
              successfulJobsHistoryLimit: 3
              failedJobsHistoryLimit: 3
              jobTemplate:
                spec:
                  backoffLimit: 0
                  template:
                    spec:
                      restartPolicy: Never
                      containers:
                        - name: keyward
                          image: "\(image)"
                          command: ["/bin/sh", "-c", "\(script)"]
                          env:
                            - name: KEYWARD_KEY_FILE
                              value: /etc/keyward/vault.key
                            - name: KEYWARD_VAULT
                              value: /var/lib/keyward/vault.db
                            - name: XDG_STATE_HOME
                              value: /var/lib/keyward/state
                          volumeMounts:
                            - name: keyward
                              mountPath: /etc/keyward
                              readOnly: true
                            - name: vault
                              mountPath: /var/lib/keyward
                      volumes:
                        - name: keyward
                          secret:
                            secretName: "\(secretName)"
                            defaultMode: 0400
                        - name: vault
                          persistentVolumeClaim:
                            claimName: keyward-vault

            """
        return manifest
    }
}
