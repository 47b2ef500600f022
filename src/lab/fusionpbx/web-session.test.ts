import assert from "node:assert/strict";
import { test } from "node:test";
import { isDashboard, pageTitle } from "./web-session.js";

// the <title> lines FusionPBX 5.3.3 and 5.5.7 serve (recorded from the lab): the login page, then the dashboard
const LOGIN_533 = "<html><head><title>Login</title></head><body><form method='post'>";
const DASH_533 = "<!DOCTYPE html>\n<html>\n<head>\n<title>Dashboard - FusionPBX</title>";
const DASH_557 = "<html><head>\n\t<title>Dashboard - FusionPBX</title>\n";

test("the dashboard is told from the login page by its title", () => {
  assert.equal(pageTitle(LOGIN_533), "Login");
  assert.equal(isDashboard(LOGIN_533), false);
  assert.equal(isDashboard(DASH_533), true);
  assert.equal(isDashboard(DASH_557), true);
  assert.equal(isDashboard("no title"), false);
});
