import { mount } from "svelte";
import "./app.css";
import App from "./App.svelte";
import CustomerDisplay from "./views/CustomerDisplay.svelte";

// The customer-facing window loads the same bundle with ?view=customer.
const view = new URLSearchParams(window.location.search).get("view");
const target = document.getElementById("app")!;
const app = view === "customer" ? mount(CustomerDisplay, { target }) : mount(App, { target });

export default app;
