from asterisk_bridge.cli import main

main()
