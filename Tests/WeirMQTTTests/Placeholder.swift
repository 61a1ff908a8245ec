import Testing

@Test func placeholderWeirMQTT() {}
