import WeirCore
import WeirMQTT
import WeirRules

/// A file that a setting names: where it came from and whether it holds a secret.
public struct FileSetting: Sendable, Equatable {
    /// The setting, as an operator finds it in weir.yaml (`mqtt.password_file`).
    public var setting: String
    /// The path, resolved when it named a credential and a credentials directory was set.
    public var path: String
    /// Passwords, tokens and private keys; CA bundles and certificates are public.
    public var isSecret: Bool
}

extension ConfigLoader {
    /// A `*_file` setting's path: a plain path, or `credential:NAME` resolved in the credentials
    /// directory when the process has one (under systemd with `LoadCredential=`). Without one, the
    /// reference is kept as written: `weir check` notes it, and `weir run` refuses to start.
    static func filePath(_ node: YAMLNode, _ what: String) throws(Diagnostic) -> String {
        let text = try node.string(what)
        guard let name = SecretFile.credentialName(text) else { return text }
        if let problem = SecretFile.credentialNameProblem(name) { throw node.error("\(what): \(problem)") }
        return (try? SecretFile.resolvedPath(text)) ?? text
    }
}

extension WeirConfig {
    /// Every file the configuration names, for `weir check`'s warnings and the start-up check.
    public var fileSettings: [FileSetting] {
        var files: [FileSetting] = []
        func add(_ setting: String, _ path: String?, secret: Bool) {
            if let path { files.append(FileSetting(setting: setting, path: path, isSecret: secret)) }
        }
        func addTLS(_ prefix: String, _ tls: MQTTConfiguration.TLS?) {
            add(prefix + ".ca_file", tls?.caFile, secret: false)
            add(prefix + ".cert_file", tls?.certFile, secret: false)
            add(prefix + ".key_file", tls?.keyFile, secret: true)
        }
        add("mqtt.password_file", mqtt.passwordFile, secret: true)
        add("admin.token_file", admin.readTokenFile, secret: true)
        addTLS("mqtt.tls", mqtt.tls)
        for upstream in upstreams {
            let prefix = "upstreams.\(upstream.name)"
            switch upstream.transport {
            case .mqtt(let m):
                add(prefix + ".mqtt.password_file", upstream.passwordFile, secret: true)
                addTLS(prefix + ".mqtt.tls", m.tls)
            case .http(let h):
                add(prefix + ".http.token_file", h.tokenFile, secret: true)
                add(prefix + ".http.ca_file", h.caFile, secret: false)
            }
        }
        return files
    }

    /// Settings that name a credential no credentials directory resolved.
    public var unresolvedCredentials: [FileSetting] {
        fileSettings.filter { SecretFile.credentialName($0.path) != nil }
    }

    /// Fails when a setting names a credential that could not be resolved: without it the daemon
    /// would connect without its password, or hand libmosquitto a path that does not exist.
    func requireCredentialsResolved() throws(ConfigurationError) {
        guard let first = unresolvedCredentials.first else { return }
        let name = SecretFile.credentialName(first.path) ?? ""
        throw ConfigurationError(
            description: "\(first.setting) is '\(first.path)', but CREDENTIALS_DIRECTORY is not set: "
                + "run under systemd with LoadCredential=\(name):/path/to/file in the unit")
    }
}

extension RuleSet {
    /// The `token_file` of every `http:` function, as written in its rule file.
    public var functionTokenFiles: [FileSetting] {
        functions.values.sorted { $0.name < $1.name }.compactMap { function in
            guard case .http(let call) = function.runtime, let path = call.tokenFile else { return nil }
            return FileSetting(setting: "function \(function.name): token_file", path: path, isSecret: true)
        }
    }
}

/// `weir check`'s findings about exposure: an admin address off loopback with `/metrics` open,
/// secret files that group or others can read (warnings: they do not stop a start, so existing
/// installs keep running), and credentials left for systemd to provide (notes).
public func exposureFindings(config: WeirConfig, rules: RuleSet) -> [String] {
    var findings: [String] = []
    if let host = config.admin.host, !config.admin.isLoopbackOnly, config.admin.readTokenFile == nil {
        findings.append(
            "\(config.path): warning: admin listens on \(host), off loopback, and no admin.token_file is set: anyone who reaches "
                + "it can read /metrics (commands still need the local admin token)")
    }
    for file in config.fileSettings + rules.functionTokenFiles {
        if let name = SecretFile.credentialName(file.path) {
            findings.append(
                "\(config.path): note: \(file.setting) is credential '\(name)', read from $CREDENTIALS_DIRECTORY at start "
                    + "(the unit's LoadCredential=\(name):...); not checked here")
        } else if file.isSecret, let mode = SecretFile.looseMode(file.path) {
            findings.append(
                "\(file.path): warning: secret file (\(file.setting)) can be read by group or others (mode "
                    + "0\(String(mode, radix: 8))): chmod 600 it, or pass it as a systemd credential (credential:NAME)")
        }
    }
    return findings
}
