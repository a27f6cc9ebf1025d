def main():
    print("citybrain")
