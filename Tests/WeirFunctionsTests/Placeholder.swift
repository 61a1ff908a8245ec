import Testing

@Test func placeholderWeirFunctions() {}
