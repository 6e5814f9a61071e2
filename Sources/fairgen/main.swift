print("fairgen: not built yet")
