import { UsageError } from "../core/errors.js";
import { dockerDriver } from "./docker.js";
import type { Driver, DriverKind, DriverName, TargetChoice } from "./driver.js";
import { nativeDriver } from "./native.js";

/** Every driver, by the name `--driver` takes. The one place that knows them all. */
const DRIVERS: { [N in DriverName]: DriverKind<Extract<TargetChoice, { driver: N }>> } = {
  native: nativeDriver,
  docker: dockerDriver,
};

export const DRIVER_NAMES = Object.keys(DRIVERS) as DriverName[];

function isDriverName(name: string): name is DriverName {
  return Object.hasOwn(DRIVERS, name);
}

/** The driver `--driver <name>` names (default native); exit 2 naming the drivers there are. */
export function driverNamed(name: string | undefined): DriverKind {
  const n = name ?? "native";
  if (!isDriverName(n)) throw new UsageError(`--driver must be ${DRIVER_NAMES.join(" or ")}, got ${JSON.stringify(n)}`);
  return DRIVERS[n];
}

/** The Driver of a choice: its kind, bound to it. */
export function driverFor(choice: TargetChoice): Driver {
  return (DRIVERS[choice.driver] as DriverKind).bind(choice);
}
