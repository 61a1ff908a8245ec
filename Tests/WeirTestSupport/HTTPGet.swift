import WeirCore

/// A minimal HTTP/1.1 GET over loopback, for checking the admin server from tests.
public func httpGet(port: Int, path: String) throws -> (status: Int, body: String) {
    guard let response = Loopback.httpGet(port: port, path: path) else {
        throw TestSupportError("GET 127.0.0.1:\(port)\(path) failed")
    }
    return response
}

/// The value of a Prometheus sample line `name{labels} value` in `exposition`, or nil.
public func metricValue(_ exposition: String, _ series: String) -> Double? {
    Loopback.metricValue(exposition, series)
}
