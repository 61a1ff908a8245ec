import WeirCore
import WeirRules

/// Rule files: YAML (Yams/libyaml), the rule, scheduled rule and function schemas, the SQL inside
/// them with its errors mapped back to file positions (plain, quoted and block scalars), action
/// templates, through `RuleLoader.parseFile` as `weir check` and reloads call it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let parsed = RuleLoader.parseFile(fuzzText(data, size), file: "fuzz.yaml", upstreams: ["cloud"])
    for diagnostic in parsed.diagnostics {
        require(diagnostic.location.line >= 1 && diagnostic.location.column >= 1, "diagnostic position: \(diagnostic)")
    }
    // What the engine reads of a loaded rule set.
    let set = RuleSet(rules: parsed.rules, schedules: parsed.schedules)
    _ = set.candidates(for: "sensors/site-1/telemetry")
    return 0
}
