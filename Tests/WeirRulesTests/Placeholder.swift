import Testing

@Test func placeholderWeirRules() {}
