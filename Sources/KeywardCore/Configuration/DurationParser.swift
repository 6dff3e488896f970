/// Durations as `keyward.yaml` writes them (DESIGN.md, "Configuration"): a positive whole number
/// followed by one unit, `s` (seconds), `m` (minutes), `h` (hours) or `d` (days of 86,400 s):
/// `90s`, `15m`, `12h`, `15d`. Command-line options such as `--fail-within` use the same form.
public enum DurationParser {
    /// The number of seconds `text` stands for, or `nil` when it is not in the form above or
    /// exceeds 100 years.
    public static func seconds(_ text: String) -> Int64? {
        guard let unit = text.last, text.count >= 2 else { return nil }
        let digits = text.dropLast()
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }), digits.first != "+",
            let amount = Int64(digits), amount > 0
        else { return nil }
        let multiplier: Int64
        switch unit {
        case "s": multiplier = 1
        case "m": multiplier = 60
        case "h": multiplier = 3_600
        case "d": multiplier = 86_400
        default: return nil
        }
        let (product, overflow) = amount.multipliedReportingOverflow(by: multiplier)
        guard !overflow, product <= 100 * 365 * 86_400 else { return nil }
        return product
    }

    /// Renders seconds in the largest unit that divides them exactly (`1296000` → `15d`).
    public static func format(seconds: Int64) -> String {
        for (unit, size) in [("d", Int64(86_400)), ("h", 3_600), ("m", 60)] where seconds % size == 0 && seconds >= size {
            return "\(seconds / size)\(unit)"
        }
        return "\(seconds)s"
    }

    /// The form, for error messages.
    public static let formDescription = "a positive whole number and a unit, at most 36500d (100 years): 90s, 15m, 12h or 15d"
}
