import { mount } from "svelte";
import "./app.css";
import App from "./App.svelte";

// The customer-facing window loads the same bundle with ?view=customer; its
// view is loaded only there, so the till's window does not carry it.
const view = new URLSearchParams(window.location.search).get("view");
const target = document.getElementById("app")!;
if (view === "customer") {
  import("./views/CustomerDisplay.svelte").then(({ default: CustomerDisplay }) => mount(CustomerDisplay, { target }));
} else {
  mount(App, { target });
}
