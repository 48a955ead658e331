// A patient-portal page that loads real browser SDKs whose vendors phitrace's
// catalogue does not list, each pointed at its vendor's own collection host.
// The test's proxy answers every one of those hosts locally: nothing leaves.
//
// Planted values (the test searches for each in what every SDK sent):
//   condition  - the page path /conditions/type-2-diabetes and its title
//   search     - the site search "insulin pump" (URL query and event properties)
//   drug       - "Metformin" in an event property
//   identity   - jane.canary@example.org and member id MBR-2291-77 via user APIs

import { init as aptabaseInit, trackEvent as aptabaseTrack } from "@aptabase/web";
import { Axiom } from "@axiomhq/js";
import { Logtail } from "@logtail/browser";
import { OpenPanel } from "@openpanel/web";
import OpenReplay from "@openreplay/tracker";
import Countly from "countly-sdk-web";
import * as swetrix from "swetrix";

const EMAIL = "jane.canary@example.org";
const MEMBER = "MBR-2291-77";
const DRUG = "Metformin";
const SEARCH = new URLSearchParams(location.search).get("q") || "insulin pump";
const CONDITION = document.title.split(" | ")[0];

const status = {};
const report = (name, outcome) => {
  status[name] = outcome;
  document.getElementById("status").textContent = JSON.stringify(status);
};

// Each SDK runs on its own, so one that throws does not stop the others.
async function run(name, body) {
  try {
    await body();
    report(name, "sent");
  } catch (error) {
    report(name, `error: ${error && error.message}`);
  }
}

const sdks = {
  aptabase: async () => {
    aptabaseInit("A-EU-4186429135");
    await aptabaseTrack("site_search", { query: SEARCH, condition: CONDITION });
    await aptabaseTrack("refill_requested", { drug: DRUG, member: MEMBER });
  },

  axiom: async () => {
    const axiom = new Axiom({ token: "xaat-5f2e8c1d-portal-ingest" });
    axiom.ingest("portal-events", [
      {
        event: "refill_requested",
        page: location.href,
        title: document.title,
        drug: DRUG,
        user: { email: EMAIL, member_id: MEMBER },
      },
    ]);
    await axiom.flush();
  },

  logtail: async () => {
    const logtail = new Logtail("pTq7sourceTokenPortal", { batchInterval: 200 });
    await logtail.info("refill requested", { drug: DRUG, member_id: MEMBER, email: EMAIL });
    await logtail.flush();
  },

  openpanel: async () => {
    const op = new OpenPanel({
      clientId: "3f1c2a9e-7b44-4d1e-9c1a-portal00001",
      trackScreenViews: true,
      trackOutgoingLinks: false,
    });
    await op.identify({ profileId: MEMBER, email: EMAIL, firstName: "Jane" });
    await op.track("site_search", { query: SEARCH });
    await op.track("refill_requested", { drug: DRUG });
    await op.flush?.();
  },

  openreplay: async () => {
    const tracker = new OpenReplay({
      projectKey: "kPortalProjectKey01",
      __DISABLE_SECURE_MODE: true,
      respectDoNotTrack: false,
    });
    await tracker.start({ userID: EMAIL, metadata: { member_id: MEMBER } });
    tracker.event("refill_requested", { drug: DRUG, search: SEARCH });
    tracker.setMetadata("drug", DRUG);
    // The recording goes out in batches every 30 s, or when the tracker stops.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    tracker.stop();
  },

  countly: async () => {
    Countly.init({
      app_key: "5a1b0c9d8e7f6a5b4c3d2e1f00portal",
      url: "https://portal-health.count.ly",
      ignore_bots: false,
      interval: 200,
    });
    Countly.track_sessions();
    Countly.track_pageview();
    Countly.user_details({ email: EMAIL, username: MEMBER, name: "Jane Canary" });
    Countly.add_event({ key: "site_search", count: 1, segmentation: { query: SEARCH } });
    Countly.add_event({ key: "refill_requested", count: 1, segmentation: { drug: DRUG } });
  },

  swetrix: async () => {
    // devMode: the page is served from 127.0.0.1, which Swetrix otherwise ignores.
    swetrix.init("PortalPid0001", { devMode: true, profileId: MEMBER });
    await swetrix.trackViews();
    await swetrix.track({ ev: "refill_requested", meta: { drug: DRUG, search: SEARCH } });
    await swetrix.identify(MEMBER, { email: EMAIL });
  },
};

Promise.all(Object.entries(sdks).map(([name, body]) => run(name, body))).then(() => {
  window.portalDone = true;
});
