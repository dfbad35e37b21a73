"""A third-party Modbus server for the tests: pymodbus (Debian python3-pymodbus 3.0.0rc1; run with /usr/bin/python3).

usage: pymodbus-server.py (--tcp PORT | --rtu PTY_PATH) --units JSON
JSON: {"<unit id>": {"ir": {"<address>": [words...]}, "hr": {...}, "co": {"<address>": [0/1...]}, "di": {...}}}
Addresses are 0-based wire addresses (zero_mode). Prints "serving" on stdout once the data is set up.
"""
import argparse
import json
import logging
import sys

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.transaction import ModbusRtuFramer

try:  # pymodbus 3.0.x
    from pymodbus.server import StartSerialServer, StartTcpServer
except ImportError:  # pragma: no cover - older layouts
    from pymodbus.server.sync import StartSerialServer, StartTcpServer

logging.basicConfig(level=logging.WARNING)


def block(spec):
    data = ModbusSequentialDataBlock(0, [0] * 1024)
    for address, values in (spec or {}).items():
        data.setValues(int(address), list(values))
    return data


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tcp", type=int)
    parser.add_argument("--rtu")
    parser.add_argument("--units", required=True)
    args = parser.parse_args()
    units = json.loads(args.units)
    slaves = {
        int(unit): ModbusSlaveContext(
            ir=block(spec.get("ir")), hr=block(spec.get("hr")), co=block(spec.get("co")), di=block(spec.get("di")), zero_mode=True
        )
        for unit, spec in units.items()
    }
    context = ModbusServerContext(slaves=slaves, single=False)
    print("serving", flush=True)
    if args.tcp:
        StartTcpServer(context=context, address=("127.0.0.1", args.tcp))
    else:
        StartSerialServer(context=context, framer=ModbusRtuFramer, port=args.rtu, baudrate=9600, bytesize=8, parity="N", stopbits=1)


if __name__ == "__main__":
    sys.exit(main())
