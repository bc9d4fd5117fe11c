from posturetest.cli import main

if __name__ == "__main__":  # not when a checking process re-imports this module
    main()
