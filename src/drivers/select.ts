import { UsageError } from "../core/errors.js";
import { dockerDriver } from "./docker.js";
import type { Driver, DriverKind, DriverName, TargetChoice } from "./driver.js";
import { nativeDriver } from "./native.js";
import { productionDriver } from "./production.js";

/** Every driver, by the name `--driver` takes. The one place that knows them all. */
const DRIVERS: { [N in DriverName]: DriverKind<Extract<TargetChoice, { driver: N }>> } = {
  native: nativeDriver,
  docker: dockerDriver,
  production: productionDriver,
};

export const DRIVER_NAMES = Object.keys(DRIVERS) as DriverName[];

function isDriverName(name: string): name is DriverName {
  return Object.hasOwn(DRIVERS, name);
}

/**
 * The driver the flags name: `--target FILE` is the production driver (with `--driver` left at its
 * default or saying production), else `--driver <name>` (default native); exit 2 naming the drivers.
 */
export function driverOf(flags: { driver?: string | undefined; target?: string | undefined }): DriverKind {
  if (flags.target === undefined) return driverNamed(flags.driver);
  if (flags.driver !== undefined && flags.driver !== "native" && flags.driver !== "production") {
    throw new UsageError(
      `--target FILE names a Kamailio the tool did not start; --driver ${flags.driver} cannot be given with it`,
    );
  }
  return DRIVERS.production;
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
