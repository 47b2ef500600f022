import assert from "node:assert/strict";
import { test } from "node:test";
import { classifyFusionpbxPage } from "./fusionpbx-page.js";

// trimmed from what 5.3.0 and 5.5.7 answered at /core/install/install.php in the lab (PHP 8.2)
const INSTALLER = `<html><head><title>FusionPBX</title></head><body><form method='post'>
<input class='formfld' type='text' name='domain_name' maxlength='255' value="127.0.0.1">
<input type='hidden' name='step' value='2'><input type='submit' name='' class='btn' value='Next'></form></body></html>`;
// 5.5.7's /login.php once its installer had written config.conf and the schema (trimmed)
const LOGIN = `<!DOCTYPE html><html><head><link rel='stylesheet' type='text/css' href='/themes/default/css.php' />
<title>Login</title></head><body><form method='post' name='frm' action=''>
<input type='text' class='formfld' name='username' id='username' placeholder="Username"><input type='password' class='formfld' name='password' placeholder="Password"></form></body></html>`;

test("the installer form, the login form, anything else", () => {
  assert.equal(classifyFusionpbxPage("/core/install/install.php", INSTALLER), "installer");
  assert.equal(classifyFusionpbxPage("/login.php", LOGIN), "login");
  assert.equal(classifyFusionpbxPage("/", "<html><title>Welcome to nginx!</title></html>"), "other");
  assert.equal(
    classifyFusionpbxPage("/login", "<title>Login</title><input name='username'><input name='password'>"),
    "other",
    "a login form that is not FusionPBX's",
  );
  assert.equal(
    classifyFusionpbxPage("/index.php", INSTALLER),
    "other",
    "an installer form outside /core/install/ is not taken for one",
  );
  assert.equal(
    classifyFusionpbxPage("/core/install/install.php", "Fatal error: Smarty not found"),
    "other",
    "5.5.7 outside its paths dies with a fatal error",
  );
});
