import Testing

@Test func placeholderWeirDaemon() {}
