import Testing

@Test func placeholderWeirCore() {}
