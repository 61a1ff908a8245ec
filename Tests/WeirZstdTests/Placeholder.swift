import Testing

@Test func placeholderWeirZstd() {}
