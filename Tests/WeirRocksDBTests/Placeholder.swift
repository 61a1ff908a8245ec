import Testing

@Test func placeholderWeirRocksDB() {}
