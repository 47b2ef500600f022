import { buildProfile, renderProfile } from "../../dispatcher/profile.js";
import { renderKamailioConfig } from "../../kamailio/config-template.js";
import type { ImageSet } from "./images.js";
import { DOCKER_LAB_POLICY, dockerBackendUri, dockerKamailioConfigValues, type DockerBackends } from "./topology.js";

/**
 * The files the Docker lab mounts into Kamailio (pure): the project's config rendered for the
 * container, and the initial dispatcher profile `old`. The committed copies under
 * local-lab/real-services/kamailio/ are exactly these (a test checks it); `lab up --driver docker`
 * writes them again before starting.
 */
export function dockerKamailioConfig(template: string, images: ImageSet = "local"): string {
  const header =
    "# Rendered for the Docker lab (local-lab/real-services) by pbx-cutover from assets/kamailio/kamailio.cfg.tmpl;\n" +
    "# regenerate with `pbx-cutover lab up --driver docker` rather than editing.\n";
  const cfg = renderKamailioConfig(template, dockerKamailioConfigValues(images));
  // keep `#!KAMAILIO` the first line
  const m = /^#!KAMAILIO[^\n]*\n/.exec(cfg);
  return m ? m[0] + header + cfg.slice(m[0].length) : header + cfg;
}

export function dockerInitialDispatcherList(backends: DockerBackends): string {
  return renderProfile(
    buildProfile("old", {
      setId: 1,
      oldUri: dockerBackendUri(backends, "old"),
      newUri: dockerBackendUri(backends, "new"),
      policy: DOCKER_LAB_POLICY,
    }),
  );
}
