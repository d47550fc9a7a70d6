/** Entry point: reads the token from the address, starts the model, renders the page. */
import { render } from 'preact';
import { App, NoToken } from './app';
import { tokenFromLocation } from './connection';
import { Model } from './model';
import './styles.css';

const root = document.getElementById('app');
if (root !== null) {
  const token = tokenFromLocation(location);
  if (token === null) {
    render(<NoToken />, root);
  } else {
    const model = new Model(token);
    model.start();
    render(<App model={model} />, root);
  }
}
